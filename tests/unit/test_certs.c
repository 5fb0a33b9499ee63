/*
 * test_certs.c: `mtlsd certs`, run in-process on a fresh temporary directory
 * per test.  What it writes is checked with mbedTLS's parser and verifier
 * and, where it is installed, with OpenSSL as an independent second opinion.
 *
 * Exit codes under test: 0 ok, 1 failure (existing file, bad CA, I/O),
 * 2 any bad argument (unknown SAN kind, bad IP, --days out of range, unsafe
 * NAME, bad --not-before, missing option).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#include "certs/certs.h"
#include "tests/unit/pki.h"

#define MAX_ARGS	24
#define OUT_MAX		8192

static char dir[PATH_MAX];
static char out[OUT_MAX], err[OUT_MAX];

/* Reads a whole small file into buf (NUL-terminated); returns its length or -1. */
static ssize_t
slurp(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static const char *
in_dir(const char *file)
{
	const char *p = pki_at(dir, file);

	assert_non_null(p);
	return p;
}

/*
 * Runs certs_main("certs", args..., NULL) with stdout and stderr captured
 * into out[] and err[]; "@" in an argument stands for the test directory.
 */
static int
certs(const char *first, ...)
{
	char *argv[MAX_ARGS], bufs[MAX_ARGS][PATH_MAX];
	const char *a;
	static const char *const file[2] = { ".out", ".err" };
	int argc = 0, status, saved[2], tmp[2], i;
	va_list ap;

	argv[argc++] = (char *)"certs";
	va_start(ap, first);
	for (a = first; a != NULL && argc < MAX_ARGS - 1; a = va_arg(ap, const char *)) {
		if (a[0] == '@') {
			assert_true(snprintf(bufs[argc], PATH_MAX, "%s%s", dir,
			    a + 1) < PATH_MAX);
			argv[argc] = bufs[argc];
		} else
			argv[argc] = (char *)(uintptr_t)a;
		argc++;
	}
	va_end(ap);
	argv[argc] = NULL;

	/* A crash while fd 2 is captured leaves its report in DIR/.err. */
	fflush(NULL);
	for (i = 0; i < 2; i++) {
		tmp[i] = open(in_dir(file[i]), O_RDWR | O_CREAT | O_TRUNC, 0600);
		assert_true(tmp[i] != -1);
		saved[i] = dup(i + 1);
		dup2(tmp[i], i + 1);
	}
	status = certs_main(argc, argv);
	fflush(NULL);
	for (i = 0; i < 2; i++) {
		dup2(saved[i], i + 1);
		close(saved[i]);
		close(tmp[i]);
		slurp(in_dir(file[i]), i == 0 ? out : err, OUT_MAX);
		unlink(in_dir(file[i]));
	}
	return status;
}

static int
setup(void **state)
{
	(void)state;
	return pki_mkdtemp(dir, sizeof(dir), "certs");
}

static int
teardown(void **state)
{
	(void)state;
	return pki_rm(dir);
}

static int
init_ca(void)
{
	return certs("init-ca", "--dir", "@", NULL);
}

static mode_t
file_mode(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

/* Parses DIR/file, verifies it against DIR/ca.crt and returns the flags. */
static uint32_t
verify_flags(const char *file)
{
	mbedtls_x509_crt ca, crt;
	uint32_t flags = 0;

	mbedtls_x509_crt_init(&ca);
	mbedtls_x509_crt_init(&crt);
	assert_int_equal(mbedtls_x509_crt_parse_file(&ca, in_dir("ca.crt")), 0);
	assert_int_equal(mbedtls_x509_crt_parse_file(&crt, in_dir(file)), 0);
	mbedtls_x509_crt_verify(&crt, &ca, NULL, NULL, &flags, NULL, NULL);
	mbedtls_x509_crt_free(&crt);
	mbedtls_x509_crt_free(&ca);
	return flags;
}

/* Whether crt's SANs include one of this type with these bytes. */
static int
has_san(const mbedtls_x509_crt *crt, int type, const void *p, size_t len)
{
	const mbedtls_x509_sequence *s;
	mbedtls_x509_subject_alternative_name san;
	int found = 0;

	for (s = &crt->subject_alt_names; s != NULL && s->buf.p != NULL; s = s->next) {
		memset(&san, 0, sizeof(san));
		if (mbedtls_x509_parse_subject_alt_name(&s->buf, &san) != 0)
			continue;
		if (san.type == type && san.san.unstructured_name.len == len &&
		    memcmp(san.san.unstructured_name.p, p, len) == 0)
			found = 1;
		mbedtls_x509_free_subject_alt_name(&san);
	}
	return found;
}

/* "YYYY-MM-DD HH:MM:SSZ", the form show prints. */
static const char *
x509_time(const mbedtls_x509_time *t)
{
	static char buf[32];

	snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02dZ", t->year,
	    t->mon, t->day, t->hour, t->min, t->sec);
	return buf;
}

/* Whether out[] has this exact line. */
static int
has_line(const char *line)
{
	size_t n = strlen(line);
	const char *p;

	for (p = out; (p = strstr(p, line)) != NULL; p++)
		if ((p == out || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return 1;
	return 0;
}

/* Entries in DIR: what was written, and any temporary file left behind. */
static int
count_files(void)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

static void
test_init_ca_and_issue(void **state)
{
	static const unsigned char v4[] = { 10, 0, 0, 1 };
	static const unsigned char v6[16] = { [15] = 1 };
	static const char uri[] = "spiffe://train.example/worker/1";
	mbedtls_x509_crt ca, crt;

	(void)state;
	assert_int_equal(init_ca(), 0);
	assert_non_null(strstr(out, "wrote "));
	assert_non_null(strstr(out, "/ca.key (mode 0600)"));
	assert_int_equal(certs("issue", "--dir", "@", "--name", "node1", "--san",
	    "dns:node1.example,ip:10.0.0.1", "--san", "ip:::1,uri:spiffe://train.example/worker/1",
	    NULL), 0);
	assert_int_equal(file_mode(in_dir("ca.key")), 0600);
	assert_int_equal(file_mode(in_dir("node1.key")), 0600);
	assert_int_equal(file_mode(in_dir("ca.crt")), 0644);
	assert_int_equal(file_mode(in_dir("node1.crt")), 0644);
	assert_int_equal(count_files(), 4);
	assert_int_equal(verify_flags("node1.crt"), 0);

	mbedtls_x509_crt_init(&ca);
	mbedtls_x509_crt_init(&crt);
	assert_int_equal(mbedtls_x509_crt_parse_file(&ca, in_dir("ca.crt")), 0);
	assert_int_equal(mbedtls_x509_crt_parse_file(&crt, in_dir("node1.crt")), 0);
	assert_int_equal(mbedtls_x509_crt_get_ca_istrue(&ca), 1);
	assert_int_not_equal(mbedtls_x509_crt_get_ca_istrue(&crt), 1);
	assert_int_equal(crt.version, 3);
	assert_true(has_san(&crt, MBEDTLS_X509_SAN_DNS_NAME, "node1.example", 13));
	assert_true(has_san(&crt, MBEDTLS_X509_SAN_IP_ADDRESS, v4, 4));
	assert_true(has_san(&crt, MBEDTLS_X509_SAN_IP_ADDRESS, v6, 16));
	assert_true(has_san(&crt, MBEDTLS_X509_SAN_UNIFORM_RESOURCE_IDENTIFIER,
	    uri, strlen(uri)));
	assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(&crt,
	    MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)), 0);
	assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(&crt,
	    MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)), 0);
	assert_int_equal(mbedtls_x509_crt_check_key_usage(&crt,
	    MBEDTLS_X509_KU_DIGITAL_SIGNATURE), 0);
	assert_int_equal(mbedtls_x509_crt_check_key_usage(&ca,
	    MBEDTLS_X509_KU_KEY_CERT_SIGN), 0);
	/* Name chaining and key identifiers line up byte for byte. */
	assert_int_equal(crt.issuer_raw.len, ca.subject_raw.len);
	assert_memory_equal(crt.issuer_raw.p, ca.subject_raw.p, ca.subject_raw.len);
	assert_int_equal(crt.authority_key_id.keyIdentifier.len, ca.subject_key_id.len);
	assert_memory_equal(crt.authority_key_id.keyIdentifier.p, ca.subject_key_id.p,
	    ca.subject_key_id.len);
	/* 16-byte serial, positive, non-zero. */
	assert_int_equal(crt.serial.len, 16);
	assert_true((crt.serial.p[0] & 0x80) == 0 && crt.serial.p[0] != 0);
	assert_true(ca.serial.len != crt.serial.len ||
	    memcmp(ca.serial.p, crt.serial.p, crt.serial.len) != 0);
	assert_string_equal(mbedtls_pk_get_name(&crt.pk), "EC");
	assert_int_equal(mbedtls_pk_get_bitlen(&crt.pk), 256);
	mbedtls_x509_crt_free(&crt);
	mbedtls_x509_crt_free(&ca);
}

static void
test_no_overwrite_without_force(void **state)
{
	static char key1[4096], crt1[4096], key2[4096], crt2[4096], cakey[4096];

	(void)state;
	assert_int_equal(init_ca(), 0);
	assert_int_equal(certs("issue", "--dir", "@", "--name", "n", NULL), 0);
	assert_true(slurp(in_dir("n.key"), key1, sizeof(key1)) > 0);
	assert_true(slurp(in_dir("n.crt"), crt1, sizeof(crt1)) > 0);
	assert_true(slurp(in_dir("ca.key"), cakey, sizeof(cakey)) > 0);

	assert_int_equal(certs("issue", "--dir", "@", "--name", "n", NULL), 1);
	assert_non_null(strstr(err, "/n.key exists; use --force to replace it"));
	slurp(in_dir("n.key"), key2, sizeof(key2));
	slurp(in_dir("n.crt"), crt2, sizeof(crt2));
	assert_string_equal(key1, key2);
	assert_string_equal(crt1, crt2);

	assert_int_equal(init_ca(), 1);
	slurp(in_dir("ca.key"), key2, sizeof(key2));
	assert_string_equal(cakey, key2);

	assert_int_equal(certs("issue", "--dir", "@", "--name", "n", "--force", NULL), 0);
	slurp(in_dir("n.key"), key2, sizeof(key2));
	slurp(in_dir("n.crt"), crt2, sizeof(crt2));
	assert_string_not_equal(key1, key2);
	assert_string_not_equal(crt1, crt2);
	assert_int_equal(file_mode(in_dir("n.key")), 0600);
	assert_int_equal(verify_flags("n.crt"), 0);
}

static void
test_validity_window(void **state)
{
	mbedtls_x509_crt crt;

	(void)state;
	assert_int_equal(init_ca(), 0);
	assert_int_equal(certs("issue", "--dir", "@", "--name", "old",
	    "--not-before", "-10d", "--days", "1", NULL), 0);
	assert_true(verify_flags("old.crt") & MBEDTLS_X509_BADCERT_EXPIRED);
	assert_int_equal(certs("issue", "--dir", "@", "--name", "new",
	    "--not-before", "+2d", NULL), 0);
	assert_true(verify_flags("new.crt") & MBEDTLS_X509_BADCERT_FUTURE);

	assert_int_equal(certs("issue", "--dir", "@", "--name", "fixed",
	    "--not-before", "2030-01-02T03:04:05", "--days", "10", NULL), 0);
	mbedtls_x509_crt_init(&crt);
	assert_int_equal(mbedtls_x509_crt_parse_file(&crt, in_dir("fixed.crt")), 0);
	assert_string_equal(x509_time(&crt.valid_from), "2030-01-02 03:04:05Z");
	assert_string_equal(x509_time(&crt.valid_to), "2030-01-12 03:04:05Z");
	mbedtls_x509_crt_free(&crt);
}

static void
test_usage_errors(void **state)
{
	static const char *const bad[][2] = {
		{ "--san", "foo:bar" }, { "--san", "dns" }, { "--san", "dns:" },
		{ "--san", "ip:999.1.1.1" }, { "--san", "ip:10.0.0" },
		{ "--san", "ip:::g" }, { "--san", "ip:[::1]" },
		{ "--san", "dns:-bad.example" }, { "--san", "dns:a..b" },
		{ "--san", "dns:a,,dns:b" }, { "--san", "uri:no-scheme" },
		{ "--san", "uri:http://a b" }, { "--san", "email:x@y" },
		{ "--days", "0" }, { "--days", "36501" }, { "--days", "-1" },
		{ "--days", "1x" }, { "--days", "" }, { "--days", "99999999999" },
		{ "--not-before", "2025-02-30" }, { "--not-before", "5d" },
		{ "--not-before", "+d" }, { "--not-before", "+1w" },
		{ "--not-before", "2030-01-01T24:00:00" },
		{ "--not-before", "1969-12-31" }, { "--not-before", "+36501d" },
	};
	static const char *const bad_names[] = { "a/b", "../x", ".hidden", "ca", "a b", "" };
	size_t i;

	(void)state;
	assert_int_equal(init_ca(), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(certs("issue", "--dir", "@", "--name", "x",
		    bad[i][0], bad[i][1], NULL), 2);
	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
		assert_int_equal(certs("issue", "--dir", "@", "--name",
		    bad_names[i], NULL), 2);
	assert_int_equal(certs("issue", "--dir", "@", "--name", "x", "--bogus", NULL), 2);
	assert_int_equal(certs("issue", "--name", "x", NULL), 2);
	assert_int_equal(certs("issue", "--dir", "@", NULL), 2);
	assert_int_equal(certs("issue", "--dir", "@", "--name", NULL), 2);
	assert_int_equal(certs("init-ca", "--dir", "@", "--san", "dns:x", NULL), 2);
	assert_int_equal(certs("init-ca", "--dir", "@", "--days", "0", NULL), 2);
	assert_int_equal(certs("frobnicate", NULL), 2);
	assert_int_equal(certs(NULL), 2);
	assert_int_equal(certs("show", NULL), 2);
	assert_non_null(strstr(err, "usage:"));
	assert_int_equal(certs("issue", "--help", NULL), 0);
	assert_non_null(strstr(out, "usage:"));
	/* Nothing was written by any of them. */
	assert_int_equal(count_files(), 2);
}

static void
test_default_san_and_bad_ca(void **state)
{
	mbedtls_x509_crt crt;

	(void)state;
	assert_int_equal(init_ca(), 0);
	assert_int_equal(certs("issue", "--dir", "@", "--name", "node-2.example", NULL), 0);
	assert_non_null(strstr(out, "note: no --san given; using dns:node-2.example"));
	mbedtls_x509_crt_init(&crt);
	assert_int_equal(mbedtls_x509_crt_parse_file(&crt, in_dir("node-2.example.crt")), 0);
	assert_true(has_san(&crt, MBEDTLS_X509_SAN_DNS_NAME, "node-2.example", 14));
	mbedtls_x509_crt_free(&crt);

	/* A CA key that is not the CA certificate's is refused by name. */
	assert_int_equal(certs("init-ca", "--dir", "@/other", NULL), 0);
	assert_int_equal(rename(in_dir("other/ca.key"), in_dir("ca.key")), 0);
	assert_int_equal(certs("issue", "--dir", "@", "--name", "z", NULL), 1);
	assert_non_null(strstr(err, "ca.key: does not match"));
	assert_int_equal(access(in_dir("z.key"), F_OK), -1);
	assert_int_equal(access(in_dir("z.crt"), F_OK), -1);

	/* A leaf is not a CA. */
	assert_int_equal(rename(in_dir("node-2.example.crt"), in_dir("other/ca.crt")), 0);
	assert_int_equal(rename(in_dir("node-2.example.key"), in_dir("other/ca.key")), 0);
	assert_int_equal(certs("issue", "--dir", "@/other", "--name", "z", NULL), 1);
	assert_non_null(strstr(err, "not a CA certificate"));

	assert_int_equal(certs("issue", "--dir", "@/missing", "--name", "z", NULL), 1);
	assert_non_null(strstr(err, "ca.crt: No such file or directory"));
}

static void
test_modes_ignore_umask(void **state)
{
	mode_t old;

	(void)state;
	old = umask(0077);
	assert_int_equal(certs("init-ca", "--dir", "@/a/b", NULL), 0);
	umask(0);
	assert_int_equal(certs("issue", "--dir", "@/a/b", "--name", "n", NULL), 0);
	umask(old);
	assert_int_equal(file_mode(in_dir("a/b")), 0755);
	assert_int_equal(file_mode(in_dir("a/b/ca.crt")), 0644);
	assert_int_equal(file_mode(in_dir("a/b/ca.key")), 0600);
	assert_int_equal(file_mode(in_dir("a/b/n.crt")), 0644);
	assert_int_equal(file_mode(in_dir("a/b/n.key")), 0600);
}

static void
test_ca_name_escaping(void **state)
{
	static const char name[] = "Acme, \"Ops\" \\ + # = CA";
	mbedtls_x509_crt ca;

	(void)state;
	assert_int_equal(certs("init-ca", "--dir", "@", "--name", name, NULL), 0);
	mbedtls_x509_crt_init(&ca);
	assert_int_equal(mbedtls_x509_crt_parse_file(&ca, in_dir("ca.crt")), 0);
	assert_null(ca.subject.next);
	assert_int_equal(ca.subject.val.len, strlen(name));
	assert_memory_equal(ca.subject.val.p, name, strlen(name));
	mbedtls_x509_crt_free(&ca);
	assert_int_equal(certs("issue", "--dir", "@", "--name", "n", NULL), 0);
	assert_int_equal(verify_flags("n.crt"), 0);
}

static void
test_show(void **state)
{
	char line[128], bundle[8192];
	mbedtls_x509_crt crt;
	size_t i;
	FILE *f;

	(void)state;
	assert_int_equal(init_ca(), 0);
	assert_int_equal(certs("issue", "--dir", "@", "--name", "node1", "--san",
	    "dns:node1.example,ip:10.0.0.1,ip:::1,uri:spiffe://t.example/w/1", NULL), 0);
	assert_int_equal(certs("show", "@/node1.crt", NULL), 0);
	assert_true(has_line("subject: CN=node1"));
	assert_true(has_line("issuer: CN=mtlsd CA"));
	assert_true(has_line("san: dns:node1.example,ip:10.0.0.1,ip:::1,uri:spiffe://t.example/w/1"));
	assert_true(has_line("days_left: 364"));
	assert_true(has_line("status: valid"));
	assert_true(has_line("validity: expires in 364 days"));
	assert_true(has_line("ca: no"));
	assert_true(has_line("key: EC P-256"));
	assert_non_null(strstr(out, "\nnot_before: "));
	assert_non_null(strstr(out, "\nnot_after: "));
	mbedtls_x509_crt_init(&crt);
	assert_int_equal(mbedtls_x509_crt_parse_file(&crt, in_dir("node1.crt")), 0);
	i = (size_t)snprintf(line, sizeof(line), "serial: ");
	for (size_t j = 0; j < crt.serial.len; j++)
		i += (size_t)snprintf(line + i, sizeof(line) - i, "%02X", crt.serial.p[j]);
	assert_true(has_line(line));
	snprintf(line, sizeof(line), "not_after: %s", x509_time(&crt.valid_to));
	assert_true(has_line(line));
	mbedtls_x509_crt_free(&crt);

	assert_int_equal(certs("show", "@/ca.crt", NULL), 0);
	assert_true(has_line("ca: yes"));
	assert_true(has_line("san: none"));
	assert_true(has_line("days_left: 3649"));

	assert_int_equal(certs("issue", "--dir", "@", "--name", "old",
	    "--not-before", "-10d", "--days", "1", NULL), 0);
	assert_int_equal(certs("show", "@/old.crt", NULL), 0);
	assert_true(has_line("days_left: -9"));
	assert_true(has_line("status: expired"));
	assert_true(has_line("validity: EXPIRED 9 days ago"));
	assert_int_equal(certs("issue", "--dir", "@", "--name", "new",
	    "--not-before", "+2d", NULL), 0);
	assert_int_equal(certs("show", "@/new.crt", NULL), 0);
	assert_true(has_line("status: not yet valid"));
	assert_true(has_line("validity: not yet valid (starts in 2 days)"));

	/* A PEM bundle shows every certificate. */
	assert_true(slurp(in_dir("node1.crt"), bundle, sizeof(bundle)) > 0);
	assert_true(slurp(in_dir("ca.crt"), bundle + strlen(bundle),
	    sizeof(bundle) - strlen(bundle)) > 0);
	assert_non_null(f = fopen(in_dir("bundle.pem"), "w"));
	fputs(bundle, f);
	fclose(f);
	assert_int_equal(certs("show", "@/bundle.pem", NULL), 0);
	assert_true(has_line("subject: CN=node1"));
	assert_non_null(strstr(out, "key: EC P-256\n\nsubject: CN=mtlsd CA\n"));

	assert_int_equal(certs("show", "@/nonexistent.crt", NULL), 1);
	assert_non_null(strstr(err, "nonexistent.crt: No such file or directory"));
	assert_int_equal(certs("show", "@/node1.key", NULL), 1);
}

/* Runs cmd through the shell; its output into buf.  Returns pclose()'s status. */
static int
run_shell(const char *cmd, char *buf, size_t len)
{
	FILE *p;
	size_t n;

	assert_non_null(p = popen(cmd, "r"));
	n = fread(buf, 1, len - 1, p);
	buf[n] = '\0';
	return pclose(p);
}

/* OpenSSL must agree: the chain verifies and the SANs read back. */
static void
test_openssl_agrees(void **state)
{
	char cmd[3 * PATH_MAX], buf[4096];

	(void)state;
	if (system("command -v openssl >/dev/null 2>&1") != 0)
		skip();
	assert_int_equal(init_ca(), 0);
	assert_int_equal(certs("issue", "--dir", "@", "--name", "leaf", "--san",
	    "dns:leaf.example,ip:192.0.2.7,ip:2001:db8::7,uri:spiffe://t.example/leaf",
	    NULL), 0);

	snprintf(cmd, sizeof(cmd), "openssl verify -CAfile '%s' '%s' 2>&1",
	    in_dir("ca.crt"), in_dir("leaf.crt"));
	assert_int_equal(run_shell(cmd, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, ": OK"));

	snprintf(cmd, sizeof(cmd), "openssl x509 -noout -ext subjectAltName,"
	    "extendedKeyUsage,basicConstraints -in '%s' 2>&1", in_dir("leaf.crt"));
	assert_int_equal(run_shell(cmd, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "DNS:leaf.example"));
	assert_non_null(strstr(buf, "IP Address:192.0.2.7"));
	assert_non_null(strstr(buf, "IP Address:2001:DB8:0:0:0:0:0:7"));
	assert_non_null(strstr(buf, "URI:spiffe://t.example/leaf"));
	assert_non_null(strstr(buf, "TLS Web Server Authentication"));
	assert_non_null(strstr(buf, "TLS Web Client Authentication"));
	assert_non_null(strstr(buf, "CA:FALSE"));

	snprintf(cmd, sizeof(cmd), "openssl pkey -noout -in '%s' 2>&1",
	    in_dir("leaf.key"));
	assert_int_equal(system(cmd), 0);
}

static int
group_setup(void **state)
{
	(void)state;
	return psa_crypto_init() == PSA_SUCCESS ? 0 : -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	mbedtls_psa_crypto_free();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_ca_and_issue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_overwrite_without_force, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validity_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usage_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_san_and_bad_ca, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modes_ignore_umask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ca_name_escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_show, setup, teardown),
		cmocka_unit_test_setup_teardown(test_openssl_agrees, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
