#!/bin/bash
# Install and packaging: the man pages lint clean, render, and document
# every config key (and only real ones); make install puts the expected
# files in place and keeps an edited mtlsd.ini; mtlsd version says what the
# independent sources say (git, pkg-config, the libraries themselves,
# /proc); make deb builds a package whose files, control data and
# maintainer scripts are right, whose binary checks its own example
# config, and in which lintian finds no error.
. "$(dirname "$0")/lib.sh"

# The project's make, without the jobserver of a make test that ran us.
mk() { env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make --no-print-directory -C "$TOP" BUILD="$BUILD" "$@"; }
PAGE8="$TOP/proxy/mtlsd.8"
PAGE5="$TOP/config/mtlsd.ini.5"

# ---- the man pages ----

for page in "$PAGE8" "$PAGE5"; do
	name=$(basename "$page")
	if command -v mandoc >/dev/null; then
		# -W warning: what is wrong in the page, not what this machine's
		# manual database lacks (STYLE: "referenced manual not found").
		out=$(mandoc -T lint -W warning "$page" 2>&1); rc=$?
		check "mandoc -T lint finds nothing in $name (rc=$rc: $out)" \
		    test $rc -eq 0 -a -z "$out"
	else
		skip "mandoc -T lint $name: mandoc not installed (make deps)"
	fi
	out=$(groff -ww -mandoc -z "$page" 2>&1)
	check "groff -ww finds nothing in $name ($out)" test -z "$out"
done

# man -l renders the sections each page must have, with no warning.
render() { MANWIDTH=80 man -l "$1" 2> "$T/man.err" | col -b > "$T/man.out"; }
if command -v man >/dev/null; then
	render "$PAGE8"
	missing=""
	for h in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS SIGNALS FILES \
	    "EXIT STATUS" EXAMPLES "SEE ALSO"; do
		grep -q "^$h\$" "$T/man.out" || missing="$missing [$h]"
	done
	for w in "run -c file" "check -c file" "nft -c file" "certs init-ca" \
	    "certs issue" "certs show" SIGHUP SIGTERM SIGINT SIGUSR1 \
	    /etc/mtlsd/mtlsd.ini; do
		grep -qF -- "$w" "$T/man.out" || missing="$missing '$w'"
	done
	check "man -l mtlsd.8 renders every section, command and signal (missing:${missing:- none}; $(head -c 300 "$T/man.err"))" \
	    test -z "$missing" -a ! -s "$T/man.err"
	render "$PAGE5"
	check "man -l mtlsd.ini.5 renders its key sections ($(head -c 300 "$T/man.err"))" \
	    eval 'grep -q "^GLOBAL KEYS$" "$T/man.out" && grep -q "^ROUTE KEYS$" "$T/man.out" &&
	    grep -q "^     workers = auto" "$T/man.out" && test ! -s "$T/man.err"'
else
	skip "man -l: man-db not installed (make deps)"
fi

# Every key of config/config_keys.c's table has an entry in mtlsd.ini.5, in
# the right section, with a Default:, and "May also be set in [global]"
# exactly where the key may be; and no entry is for a key the table lacks.
python3 - "$TOP/config/config_keys.c" "$PAGE5" > "$T/keys.out" <<'EOF'
import re, sys
src, page = open(sys.argv[1]).read(), open(sys.argv[2]).read().splitlines()
table = src[src.index("keys[] = {"):src.index("};", src.index("keys[] = {"))]
code = dict(re.findall(r'\{\s*"([a-z_]+)",\s*SCOPE_(GLOBAL|ROUTE|BOTH)', table))
entries, section, cur = {}, None, None
for line in page:
    m = re.match(r'\.Sh (.*)', line)
    if m:
        section, cur = m.group(1), None
        continue
    m = re.match(r'\.It Cm ([a-z_]+)', line)
    if m and section in ("GLOBAL KEYS", "ROUTE KEYS"):
        cur = m.group(1)
        entries.setdefault(cur, []).append([section, ""])
        continue
    if line.startswith((".It", ".El")):
        cur = None
    elif cur:
        entries[cur][-1][1] += line + "\n"
bad = []
for k, scope in sorted(code.items()):
    if k not in entries:
        bad.append(f"{k}: not documented"); continue
    if len(entries[k]) != 1:
        bad.append(f"{k}: documented {len(entries[k])} times"); continue
    sec, body = entries[k][0]
    want = "GLOBAL KEYS" if scope == "GLOBAL" else "ROUTE KEYS"
    if sec != want:
        bad.append(f"{k}: under {sec}, belongs under {want}")
    if "Default" not in body:
        bad.append(f"{k}: no Default")
    if ("May also be set in" in body) != (scope == "BOTH"):
        bad.append(f"{k}: 'May also be set in [global]' is {'wrong' if scope != 'BOTH' else 'missing'}")
for k in sorted(set(entries) - set(code)):
    bad.append(f"{k}: documented, but config_keys.c has no such key")
print(f"keys {len(code)} documented {len(entries)}")
for b in bad:
    print("BAD " + b)
EOF
note "$(head -n 1 "$T/keys.out")"
check "mtlsd.ini.5 documents every key of config_keys.c in its section, with its default, and no other ($(grep BAD "$T/keys.out" | tr '\n' ';'))" \
    eval '! grep -q BAD "$T/keys.out" && grep -qE "^keys [1-9][0-9]* documented" "$T/keys.out"'

# The binary agrees: each documented key, in the section the page puts it
# in, is known to the loader (its value may be wrong: only "unknown key" and
# "belongs in" would mean the page is).
{
	echo "[global]"
	sed -n '/^\.Sh GLOBAL KEYS/,/^\.Sh /s/^\.It Cm \([a-z_]*\).*/\1 = x/p' "$PAGE5"
	echo "[r]"
	sed -n '/^\.Sh ROUTE KEYS/,/^\.Sh /s/^\.It Cm \([a-z_]*\).*/\1 = x/p' "$PAGE5"
} > "$T/allkeys.ini"
out=$("$MTLSD" check -c "$T/allkeys.ini" 2>&1)
check "mtlsd check knows every key mtlsd.ini.5 documents, in its section ($(grep -E "unknown key|belongs in" <<< "$out" | head -5 | tr '\n' ';'))" \
    eval '! grep -qE "unknown key|belongs in" <<< "$out" && test $(grep -c " = x" "$T/allkeys.ini") -ge 40'
printf '[global]\nworkerz = 1\n' > "$T/unknown.ini"
check "(and the same probe does see an unknown key)" \
    eval '"$MTLSD" check -c "$T/unknown.ini" 2>&1 | grep -q "unknown key .workerz."'

# ---- make install ----

R="$T/root"
# common_files DOCDIR: what make install and the package both hold beside
# the binary, the man pages and the unit: the docs and the /etc files.
common_files() {
	local f
	echo "$1/README.md"
	echo "$1/copyright"
	for f in "$TOP"/examples/*.ini "$TOP"/examples/*.nft "$TOP"/examples/*.json; do
		echo "$1/examples/$(basename "$f")"
	done
	echo etc/mtlsd/mtlsd.ini
	echo etc/logrotate.d/mtlsd
}
expected_install() {
	local p=usr/local d=usr/local/share/doc/mtlsd f
	{
		echo "$p/sbin/mtlsd"
		echo "$p/share/man/man8/mtlsd.8"
		echo "$p/share/man/man5/mtlsd.ini.5"
		echo "$p/lib/systemd/system/mtlsd.service"
		common_files "$d"
	} | LC_ALL=C sort
}
files_under() { (cd "$1" && find . -type f | sed 's|^\./||' | LC_ALL=C sort); }

mk install PREFIX=/usr/local DESTDIR="$R" > "$T/install.log" 2>&1; rc=$?
check "make install PREFIX=/usr/local DESTDIR=... succeeds (rc=$rc)" test $rc -eq 0
[ $rc -eq 0 ] || sed 's/^/#   /' "$T/install.log" | tail -20
diff <(expected_install) <(files_under "$R") > "$T/install.diff"
check "make install puts exactly the expected files in place ($(tr '\n' ' ' < "$T/install.diff"))" \
    test ! -s "$T/install.diff"
check "the binary is 0755, everything else 0644" eval \
    '[ "$(stat -c %a "$R/usr/local/sbin/mtlsd")" = 755 ] &&
     [ -z "$(cd "$R" && find . -type f ! -path ./usr/local/sbin/mtlsd ! -perm 0644)" ]'
check "the installed mtlsd runs (mtlsd version)" \
    eval '"$R/usr/local/sbin/mtlsd" version | head -n 1 | grep -qE "^mtlsd [0-9]+\.[0-9]+"'
check "/etc/mtlsd/mtlsd.ini is examples/mtlsd.ini" \
    cmp -s "$TOP/examples/mtlsd.ini" "$R/etc/mtlsd/mtlsd.ini"
unit="$R/usr/local/lib/systemd/system/mtlsd.service"
# runs_mtlsd UNIT: the unit's Exec lines that run an mtlsd binary.
runs_mtlsd() { grep -E '^Exec[A-Za-z]*=' "$1" | grep -E '/s?bin/mtlsd( |$)'; }
execs=$(runs_mtlsd "$unit")
check "the unit's Exec lines run /usr/local/sbin/mtlsd, the installed path ($(tr '\n' ' ' <<< "$execs"))" \
    eval '! grep -vqE "^Exec[A-Za-z]*=[-@:+!]*/usr/local/sbin/mtlsd( |$)" <<< "$execs" &&
     grep -q "^ExecStart=" <<< "$execs"'

echo "; edited by the operator" >> "$R/etc/mtlsd/mtlsd.ini"
mk install PREFIX=/usr/local DESTDIR="$R" > "$T/install2.log" 2>&1; rc=$?
check "a second make install keeps the edited mtlsd.ini, and says so (rc=$rc)" \
    eval '[ $rc -eq 0 ] && tail -n 1 "$R/etc/mtlsd/mtlsd.ini" | grep -q "edited by the operator" &&
     grep -q "kept $R/etc/mtlsd/mtlsd.ini" "$T/install2.log"'

mk uninstall PREFIX=/usr/local DESTDIR="$R" > "$T/uninstall.log" 2>&1; rc=$?
left=$(files_under "$R" | tr '\n' ' ')
check "make uninstall removes all but the edited mtlsd.ini (rc=$rc, left: $left)" \
    test $rc -eq 0 -a "$left" = "etc/mtlsd/mtlsd.ini "

# ---- mtlsd version, line by line, against independent sources ----

"$MTLSD" version > "$T/version.out" 2>&1
sed 's/^/# /' "$T/version.out"
field() { sed -n "s/^$1: //p" "$T/version.out"; }

if command -v dpkg-parsechangelog >/dev/null; then
	want=$(dpkg-parsechangelog -l "$TOP/scripts/deb/changelog" -S Version)
	check "line 1 is 'mtlsd $want', the release of scripts/deb/changelog" \
	    test "$(head -n 1 "$T/version.out")" = "mtlsd $want"
else
	skip "version against the changelog: dpkg-parsechangelog not installed"
fi

commit=$(field commit)
if git -C "$TOP" rev-parse HEAD > /dev/null 2>&1; then
	# make install above rebuilt mtlsd if the tree had moved since the build.
	hash=${commit%-dirty}
	[[ $hash =~ -g([0-9a-f]+)$ ]] && hash=${BASH_REMATCH[1]}
	check "commit: $commit is HEAD (git rev-parse) and dirty as git describe says" eval \
	    '[ "$(git -C "$TOP" rev-parse --verify -q "$hash^{commit}")" = "$(git -C "$TOP" rev-parse HEAD)" ] &&
	     [ "$commit" = "$(git -C "$TOP" describe --always --dirty)" ]'
else
	check "commit: 'unknown' outside git" test "$commit" = unknown
fi

# The libraries' own run-time answers, from the very files mtlsd links.
lib_of() { ldd "$MTLSD" | awk -v l="$1" 'index($1, l) == 1 { print $3; exit }'; }
python3 - "$(lib_of libmbedcrypto.so)" "$(lib_of libevent_core)" "$(lib_of libgcrypt.so)" \
    > "$T/libs.out" 2>&1 <<'EOF'
import ctypes, sys
mbed, ev, gcry = (ctypes.CDLL(p) for p in sys.argv[1:4])
buf = ctypes.create_string_buffer(64)
mbed.mbedtls_version_get_string_full(buf)
ev.event_get_version.restype = ctypes.c_char_p
gcry.gcry_check_version.restype = ctypes.c_char_p
print(buf.value.decode())
print(ev.event_get_version().decode())
print(gcry.gcry_check_version(None).decode())
EOF
{ read -r mbed_rt; read -r ev_rt; read -r gcry_rt; } < "$T/libs.out"
check "mbedtls: '$(field mbedtls)' = the linked library's '$mbed_rt', built with pkg-config's $(pkg-config --modversion mbedtls)" \
    test "$(field mbedtls)" = "$mbed_rt (built with $(pkg-config --modversion mbedtls))"
check "libevent: '$(field libevent)' = the linked library's '$ev_rt', built with pkg-config's $(pkg-config --modversion libevent_core)" \
    test "$(field libevent)" = "$ev_rt (built with $(pkg-config --modversion libevent_core))"
check "inih: '$(field inih)' is pkg-config's $(pkg-config --modversion inih)" \
    eval '[ "$(field inih | cut -d" " -f1)" = "$(pkg-config --modversion inih)" ]'
check "libgcrypt: '$(field libgcrypt)' = the linked library's '$gcry_rt' (pkg-config: $(pkg-config --modversion libgcrypt))" \
    test "$(field libgcrypt)" = "$gcry_rt"

# kTLS: Python's own TCP_ULP "tls" on a connected loopback socket, and the
# kernel's list (read after both probes: a probe may load the module).
python3 - > "$T/ulp.out" 2>&1 <<'EOF'
import socket
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
c = socket.create_connection(l.getsockname()); a, _ = l.accept()
try:
    c.setsockopt(socket.IPPROTO_TCP, 31, b"tls")  # TCP_ULP
    print("yes")
except OSError as e:
    print("no", e.strerror)
EOF
py=$(cut -d' ' -f1 "$T/ulp.out")
ulps=$(cat /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null)
ktls=$(field ktls)
note "python TCP_ULP probe: $(cat "$T/ulp.out"); /proc tcp_available_ulp: '$ulps'"
ulp_agrees() {
	case "$py" in
	yes) grep -qw tls <<< "$ulps" ;;
	no) ! grep -qw tls <<< "$ulps" ;;
	*) false ;;
	esac
}
check "ktls: '${ktls%% *}' as Python's probe says ('$py'), and /proc's list agrees" \
    eval '[ "${ktls%% *}" = "$py" ] && ulp_agrees'
check "ktls: names the kernel's ULP list ('${ulps:-none}')" \
    eval 'grep -qF "tcp_available_ulp: ${ulps:-none})" <<< "$ktls"'
check "-V and --version print the same" eval \
    'cmp -s "$T/version.out" <("$MTLSD" -V) && cmp -s "$T/version.out" <("$MTLSD" --version)'

# ---- make deb ----

if ! command -v dpkg-deb >/dev/null || ! command -v dpkg-shlibdeps >/dev/null; then
	skip "make deb: dpkg-dev not installed (make deps)"
	finish
fi
mk deb > "$T/deb.log" 2>&1; rc=$?
deb=$(grep "/mtlsd_.*\.deb$" "$T/deb.log" | tail -n 1)
check "make deb builds a package (rc=$rc: $deb)" eval '[ $rc -eq 0 ] && [ -f "$deb" ]'
if [ $rc -ne 0 ] || [ ! -f "$deb" ]; then
	sed 's/^/#   /' "$T/deb.log" | tail -30
	finish
fi
note "$(basename "$deb"), $(stat -c %s "$deb") bytes"

unitdir=$(dpkg-deb -c "$deb" | awk '{ print $6 }' | sed -n 's|^\./\(.*\)/mtlsd\.service$|\1|p')
expected_deb() {
	local d=usr/share/doc/mtlsd f
	{
		echo usr/sbin/mtlsd
		echo usr/share/man/man8/mtlsd.8.gz
		echo usr/share/man/man5/mtlsd.ini.5.gz
		echo "$d/changelog.gz"
		common_files "$d"
	} | LC_ALL=C sort
}
dpkg-deb -c "$deb" > "$T/deb.list"
diff <(expected_deb) <(grep -v '^d' "$T/deb.list" | awk '{ print $6 }' |
    sed 's|^\./||' | grep -v 'systemd/system/mtlsd\.service$' | LC_ALL=C sort) > "$T/deb.diff"
check "dpkg-deb -c lists exactly the expected files ($(tr '\n' ' ' < "$T/deb.diff"))" \
    test ! -s "$T/deb.diff"
check "the unit is in systemd's own unit directory ($unitdir)" eval \
    '[ "$unitdir" = lib/systemd/system ] || [ "$unitdir" = usr/lib/systemd/system ]'
check "every file in the package is root's" \
    eval '! awk "{ print \$2 }" "$T/deb.list" | grep -qv "^root/root$"'

# Control data.
dpkg-deb -e "$deb" "$T/ctrl"
check "Package mtlsd, Version from the changelog ($(dpkg-deb -f "$deb" Version))" eval \
    '[ "$(dpkg-deb -f "$deb" Package)" = mtlsd ] &&
     [ "$(dpkg-deb -f "$deb" Version)" = "$(dpkg-parsechangelog -l "$TOP/scripts/deb/changelog" -S Version)" ]'
depends=$(dpkg-deb -f "$deb" Depends)
note "Depends: $depends"
# Each library the packaged binary needs, by the package that holds it here.
dpkg-deb -x "$deb" "$T/pkg"
miss=""
for lib in $(objdump -p "$T/pkg/usr/sbin/mtlsd" | awk '/NEEDED/ { print $2 }'); do
	path=$(ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')
	owner=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n 1 | cut -d: -f1)
	[ -n "$owner" ] || owner=$(dpkg -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1)
	grep -qE "(^|, )$owner( |,|$)" <<< "$depends" || miss="$miss $lib($owner)"
done
check "Depends names the package of every library mtlsd needs, and adduser (missing:${miss:- none})" \
    eval '[ -z "$miss" ] && grep -qE "(^|, )adduser( |,|$)" <<< "$depends"'
check "conffiles: /etc/mtlsd/mtlsd.ini and /etc/logrotate.d/mtlsd, every file under /etc" eval \
    '[ "$(LC_ALL=C sort "$T/ctrl/conffiles" | tr "\n" " ")" = "/etc/logrotate.d/mtlsd /etc/mtlsd/mtlsd.ini " ] &&
     [ "$(cd "$T/pkg" && find etc -type f | sed "s|^|/|" | LC_ALL=C sort | tr "\n" " ")" = "/etc/logrotate.d/mtlsd /etc/mtlsd/mtlsd.ini " ]'
check "copyright is DEP-5, Apache-2.0, pointing at common-licenses" eval \
    'head -n 1 "$T/pkg/usr/share/doc/mtlsd/copyright" | grep -q "^Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/" &&
     grep -q "^License: Apache-2.0$" "$T/pkg/usr/share/doc/mtlsd/copyright" &&
     grep -q "/usr/share/common-licenses/Apache-2.0" "$T/pkg/usr/share/doc/mtlsd/copyright"'
nsums=$(wc -l < "$T/ctrl/md5sums")
nfiles=$(grep -vc '^d' "$T/deb.list")
check "md5sums holds every file's, and they match ($nsums of $nfiles)" eval \
    '[ "$nsums" -eq "$nfiles" ] && (cd "$T/pkg" && md5sum --quiet -c "$T/ctrl/md5sums")'
pexecs=$(runs_mtlsd "$T/pkg/$unitdir/mtlsd.service")
check "the packaged unit runs /usr/sbin/mtlsd ($(tr '\n' ' ' <<< "$pexecs"))" \
    eval '! grep -vqE "^Exec[A-Za-z]*=[-@:+!]*/usr/sbin/mtlsd( |$)" <<< "$pexecs" &&
     grep -q "^ExecStart=" <<< "$pexecs"'

# dpkg itself installs, upgrades and purges the package in a scratch root
# (--root, its own empty database).  The maintainer scripts run outside it
# (--force-script-chrootless), against stubs, first in PATH, that log what
# they are asked to do instead of touching this machine: a first install
# makes the system user and enables the unit without starting it; an
# upgrade keeps the operator's mtlsd.ini, makes no user and starts nothing
# that was not running; a purge forgets the unit and removes the conffiles.
D="$T/droot"
mkdir -p "$D/var/lib/dpkg/info" "$D/var/lib/dpkg/updates" "$T/stub"
touch "$D/var/lib/dpkg/status" "$D/var/lib/dpkg/available"
for c in adduser deb-systemd-helper deb-systemd-invoke systemctl; do
	printf '#!/bin/sh\necho "%s $*" >> "%s"\nexit 0\n' "$c" "$T/calls" > "$T/stub/$c"
done
printf '#!/bin/sh\n[ -f "%s" ]\n' "$T/user-exists" > "$T/stub/getent"
chmod +x "$T/stub"/*
sdpkg() { PATH="$T/stub:$PATH" dpkg --root="$D" --force-script-chrootless --force-depends "$@"; }

if [ "$(id -u)" != 0 ]; then
	skip "dpkg --root install, upgrade and purge: needs root"
else
	: > "$T/calls"
	sdpkg -i "$deb" > "$T/dpkg1.log" 2>&1; rc=$?
	sed 's/^/# first install: /' "$T/calls"
	check "dpkg -i (first install): installed, adduser --system mtlsd, unit enabled, nothing started (rc=$rc)" eval \
	    '[ $rc -eq 0 ] && dpkg --root="$D" -s mtlsd | grep -qx "Status: install ok installed" &&
	     grep -qE "^adduser --system .*mtlsd$" "$T/calls" &&
	     grep -qx "deb-systemd-helper enable mtlsd.service" "$T/calls" &&
	     ! grep -qE "^deb-systemd-invoke|^systemctl .*(start|restart)" "$T/calls"'
	check "dpkg records both conffiles, with the shipped files' hashes" eval \
	    '[ "$(dpkg --root="$D" -s mtlsd | awk "/^Conffiles:/ { c = 1; next } c && /^ / { print \$1, \$2; next } { c = 0 }")" = \
	       "/etc/mtlsd/mtlsd.ini $(md5sum < "$TOP/examples/mtlsd.ini" | cut -d" " -f1)
/etc/logrotate.d/mtlsd $(md5sum < "$TOP/examples/mtlsd.logrotate" | cut -d" " -f1)" ]'

	echo "; edited by the operator" >> "$D/etc/mtlsd/mtlsd.ini"
	: > "$T/calls"; touch "$T/user-exists"
	sdpkg -i "$deb" > "$T/dpkg2.log" 2>&1; rc=$?
	sed 's/^/# upgrade: /' "$T/calls"
	check "dpkg -i again (upgrade): the edited mtlsd.ini stays, with no .dpkg-new beside it (rc=$rc)" eval \
	    '[ $rc -eq 0 ] && tail -n 1 "$D/etc/mtlsd/mtlsd.ini" | grep -q "edited by the operator" &&
	     [ -z "$(ls "$D/etc/mtlsd" | grep -v "^mtlsd.ini$")" ]'
	check "... and makes no user, and at most restarts a running unit" eval \
	    '! grep -q "^adduser" "$T/calls" &&
	     ! grep -E "^deb-systemd-invoke|^systemctl" "$T/calls" | grep -qvE "try-restart|daemon-reload"'

	: > "$T/calls"
	sdpkg --purge mtlsd > "$T/dpkg3.log" 2>&1; rc=$?
	left=$(cd "$D" && find . -path ./var/lib/dpkg -prune -o -type f -print | tr '\n' ' ')
	check "dpkg --purge forgets the unit and leaves no file, conffiles included (rc=$rc; left: ${left:-none})" eval \
	    '[ $rc -eq 0 ] && grep -qx "deb-systemd-helper purge mtlsd.service" "$T/calls" && [ -z "$left" ]'
fi

# The packaged binary on the packaged example.  The package ships no keys
# (they are the node's secret), so check must fail and name exactly the
# three missing files, each with its line; with throwaway certificates at
# those paths it must pass.
M="$T/pkg/usr/sbin/mtlsd"
ini="$T/pkg/etc/mtlsd/mtlsd.ini"
out=$("$M" check -c "$ini" 2>&1); rc=$?
sed 's/^/# check on the pristine example: /' <<< "$out"
want=$(for k in cert key ca; do
	n=$(grep -n "^$k *= " "$ini" | cut -d: -f1)
	f=$(sed -n "s/^$k *= *//p" "$ini")
	echo "$ini:$n: $k: cannot read '$T/pkg/etc/mtlsd/$f': No such file or directory"
done)
got=$(grep -v ": warning: " <<< "$out")
check "packaged check on the packaged example: exit 1, and only the missing cert, key and ca, with their lines (rc=$rc)" \
    test $rc -eq 1 -a "$got" = "$want"
{
	"$M" certs init-ca --dir "$T/pkg/etc/mtlsd" &&
	"$M" certs issue --dir "$T/pkg/etc/mtlsd" --name node \
	    --san dns:localhost,uri:spiffe://example.org/node/test
} > "$T/certs.log" 2>&1
out=$("$M" check -c "$ini" 2>&1); rc=$?
check "with throwaway certificates at its paths, the packaged example passes check ($out)" \
    eval '[ $rc -eq 0 ] && grep -qxE "$ini: OK \(1 routes?\)" <<< "$out"'

if command -v lintian >/dev/null; then
	lintian --fail-on error -I --pedantic "$deb" > "$T/lintian.out" 2>&1; rc=$?
	sed 's/^/# lintian: /' "$T/lintian.out" | grep -v "root privileges"
	check "lintian finds no error (rc=$rc; $(grep -c '^E:' "$T/lintian.out") E, $(grep -c '^W:' "$T/lintian.out") W)" \
	    eval '[ $rc -eq 0 ] && ! grep -q "^E:" "$T/lintian.out"'
else
	skip "lintian: not installed (make deps)"
fi

finish
