/*
 * tls.h: everything mtlsd does with TLS, behind opaque types.
 *
 * Only tls/ (and the certs command) include mbedTLS.  The proxy hands this
 * module a connected, non-blocking fd and gets back its own result codes;
 * mbedTLS error codes never leave tls/ except as text.
 *
 * Lifetimes:
 *   tls_material  the bytes of the cert, key, CA and CRL files, read once and
 *                 checked (key permissions, parse, key matches cert).  Shared
 *                 read-only between threads, reference counted atomically.
 *   tls_ctx       one per worker thread and route, built from a material: the
 *                 parsed keys and an mbedtls_ssl_config.  Immutable once built
 *                 (what a session learns stays in its tls_conn); reference
 *                 counted by the connections using it (one thread).
 *   tls_conn      one TLS session on one fd; holds a reference on its ctx.
 */
#ifndef MTLSD_TLS_TLS_H
#define MTLSD_TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "config/peer_pattern.h"

struct tls_material;
struct tls_ctx;
struct tls_conn;

enum tls_role { TLS_ROLE_SERVER, TLS_ROLE_CLIENT };
enum tls_auth { TLS_AUTH_REQUIRE, TLS_AUTH_OPTIONAL, TLS_AUTH_NONE };

/* Results of handshake, read, write and close.  Reads and writes return a
 * byte count > 0 on success instead of TLS_OK. */
enum tls_result {
	TLS_OK = 0,
	TLS_WANT_READ = -1,	/* wait for the fd to be readable, then retry */
	TLS_WANT_WRITE = -2,	/* wait for the fd to be writable, then retry */
	TLS_EOF = -3,		/* the peer ended its direction */
	TLS_ERR = -4,		/* fatal for this connection; see tls_conn_fail() */
	TLS_RETRY = -5,		/* a non-data record was consumed: call again */
};

/* Why a connection failed: a fixed set, for logs and metrics. */
enum tls_fail {
	TLS_FAIL_NONE,
	TLS_FAIL_NO_CERT,	/* peer sent no certificate */
	TLS_FAIL_UNKNOWN_CA,	/* chain does not lead to our CA */
	TLS_FAIL_EXPIRED,
	TLS_FAIL_NOT_YET_VALID,
	TLS_FAIL_REVOKED,
	TLS_FAIL_CRL_STALE,	/* CRL past nextUpdate, crl_stale = refuse */
	TLS_FAIL_NAME_MISMATCH,	/* server cert does not match server_name */
	TLS_FAIL_DENIED,	/* valid cert, identity not allowed */
	TLS_FAIL_BAD_CERT,	/* other verification failure */
	TLS_FAIL_PEER_ALERT,	/* the peer refused us */
	TLS_FAIL_PROTOCOL,	/* malformed or unacceptable TLS */
	TLS_FAIL_CLOSED,	/* TCP closed during the handshake */
	TLS_FAIL_RESET,		/* TCP reset */
	TLS_FAIL_INTERNAL,
	TLS_FAIL_COUNT
};

/* Which input a tls_material error is about, so callers can name the key. */
enum tls_file {
	TLS_FILE_NONE, TLS_FILE_CERT, TLS_FILE_KEY, TLS_FILE_CA, TLS_FILE_CRL,
	TLS_FILE_KEY_PASSWORD
};

struct tls_error {
	enum tls_file file;
	char msg[384];
};

/* What a route's TLS is made of.  Strings are borrowed for the call. */
struct tls_params {
	enum tls_role role;
	const char *cert_file;		/* may be NULL on client routes */
	const char *key_file;
	const char *key_password_file;	/* NULL: key is not encrypted */
	const char *ca_file;		/* NULL only with TLS_AUTH_NONE servers */
	const char *crl_file;		/* NULL: no revocation list */
	bool insecure_key_permissions;	/* skip the 0600/owner check */
	uid_t key_owner_alt;		/* another owner to accept; (uid_t)-1 none */
	int min_version;		/* 12 or 13 */
	enum tls_auth client_auth;	/* servers */
	bool crl_stale_refuse;		/* refuse, rather than warn, past nextUpdate */
	bool ktls;			/* prepare sessions for kernel TLS */
	bool own_layer;			/* ... or for mtlsd's own record layer */
	uint64_t key_update_records;	/* own layer: records per key (0: default) */
	bool ktls_required;		/* offer only suites the kernel takes */
	bool resumption;		/* TLS 1.3 session tickets */
	const struct peer_pattern *peers;	/* allow_peers / expect_peers */
	size_t npeers;
};

/* Who seals and opens a direction's records after the handshake. */
enum tls_layer { TLS_LAYER_MBEDTLS, TLS_LAYER_OWN, TLS_LAYER_KERNEL };

/* The default of key_update_records: 2^23 records (128 GiB of full
 * records), well inside AES-GCM's limit of about 2^24.5 (RFC 8446 5.5). */
#define TLS_KEY_UPDATE_RECORDS_DEFAULT (UINT64_C(1) << 23)

/* Once per process, before anything else here (and after any fork). */
int tls_global_init(void);

/*
 * Reads and checks the files in p.  Returns a material with one reference,
 * or NULL with *err filled.  Key bytes are zeroized once parsed copies no
 * longer need them (when the material is freed).
 */
struct tls_material *tls_material_load(const struct tls_params *p,
    struct tls_error *err);
void tls_material_ref(struct tls_material *m);
void tls_material_unref(struct tls_material *m);	/* NULL: no-op */

/*
 * Key hygiene: the key file's bytes are wiped once every context that needs
 * them is built.  The owner says how many will be (one per worker); each
 * builder calls tls_material_built() after its tls_ctx_new(); the last call
 * wipes.  A material never told to expect builds keeps its key until freed.
 */
void tls_material_expect_builds(struct tls_material *m, int n);
void tls_material_built(struct tls_material *m);

/* How many ip: SANs the material's own certificate carries. */
unsigned tls_material_ip_sans(const struct tls_material *m);

/* notAfter of the material's own certificate (0 if none). */
time_t tls_material_not_after(const struct tls_material *m);

/* The earliest nextUpdate of the material's CRLs (0 if it has none). */
time_t tls_material_crl_next_update(const struct tls_material *m);

/*
 * Builds a context for the calling thread from m.  Returns it with one
 * reference, or NULL with *err filled.
 */
struct tls_ctx *tls_ctx_new(const struct tls_material *m, struct tls_error *err);
void tls_ctx_ref(struct tls_ctx *ctx);
void tls_ctx_unref(struct tls_ctx *ctx);		/* NULL: no-op */

/*
 * Starts a TLS session on fd (connected, non-blocking; the caller keeps
 * ownership of fd).  server_name (client role) is sent as SNI and the
 * server's certificate must match it.  Returns NULL on allocation failure.
 */
struct tls_conn *tls_conn_new(struct tls_ctx *ctx, int fd, const char *server_name);

/* Frees the session (not the fd); NULL is a no-op. */
void tls_conn_free(struct tls_conn *c);

/* Drives the handshake: TLS_OK when done, TLS_WANT_*, or TLS_ERR. */
int tls_conn_handshake(struct tls_conn *c);

/* Decrypts into buf: bytes > 0, TLS_WANT_*, TLS_EOF or TLS_ERR. */
ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t len);

/*
 * Encrypts from buf, at most one record per call: bytes consumed > 0,
 * TLS_WANT_* or TLS_ERR.  After TLS_WANT_* call again with the same buf
 * and len.
 */
ssize_t tls_conn_write(struct tls_conn *c, const void *buf, size_t len);

/* Sends close_notify: TLS_OK, TLS_WANT_WRITE (call again) or TLS_ERR. */
int tls_conn_close_notify(struct tls_conn *c);

/* Whether decrypted or received bytes wait inside the TLS layer (a read
 * would make progress without the fd becoming readable). */
bool tls_conn_pending(const struct tls_conn *c);

/*
 * Reads ahead from now on: a short read takes up to 2 KiB, so a small
 * record costs one recv() instead of two.  Bytes read ahead are the TLS
 * layer's (tls_conn_pending() says so), so never on a connection whose RX
 * may go to kernel TLS.  Returns 0, or -1 when out of memory.
 */
int tls_conn_read_ahead(struct tls_conn *c);

/*
 * Bytes a read made mbedTLS send (finishing a half-sent record before a
 * ticket's handshake step) that the socket did not take yet.  While
 * tls_conn_spilled() is true, wait for the fd to be writable and call
 * tls_conn_flush(): TLS_OK when all is sent, TLS_WANT_WRITE, or TLS_ERR.
 * Writes and close_notify flush first by themselves.
 */
bool tls_conn_spilled(const struct tls_conn *c);
int tls_conn_flush(struct tls_conn *c);

/* After TLS_EOF: true when the peer closed TCP without close_notify. */
bool tls_conn_truncated(const struct tls_conn *c);

/* Records that the TCP stream ended without close_notify (kernel TLS: the
 * proxy sees the EOF itself). */
void tls_conn_note_truncated(struct tls_conn *c);

/* Why the connection failed, and a detail line for logs. */
enum tls_fail tls_conn_fail(const struct tls_conn *c);
const char *tls_conn_fail_detail(const struct tls_conn *c);
const char *tls_fail_name(enum tls_fail f);

/*
 * The peer's identity: its first URI SAN, else first DNS SAN, else subject
 * CN; "" when it presented no certificate.  Raw bytes from the certificate
 * (escape before logging).  Valid from the end of certificate verification
 * (also when verification failed) until tls_conn_free().
 */
const char *tls_conn_peer_id(const struct tls_conn *c);

/*
 * Checks the established session's peer again, against ctx (a newer context
 * of the same route, after a reload): chain, validity, CRL, allow-list and,
 * for clients, the server name.  Returns 0 if the peer still passes, or -1
 * with the reason in tls_conn_fail()/tls_conn_fail_detail().
 */
int tls_conn_reverify(struct tls_conn *c, struct tls_ctx *ctx);

/*
 * Whether two materials would build the same contexts (same file bytes and
 * the same policy), so a reload that changed nothing can be a no-op.
 */
bool tls_material_equal(const struct tls_material *a, const struct tls_material *b);

/* Whether the peer's certificate was checked against a CRL past its
 * nextUpdate (crl_stale = warn let it through), from the end of
 * verification until tls_conn_free(). */
bool tls_conn_crl_stale(const struct tls_conn *c);

/* Whether the handshake resumed an earlier session (no certificates were
 * exchanged; the identity is the one the ticket was issued to). */
bool tls_conn_resumed(const struct tls_conn *c);

/* Records read (data or tickets) since the handshake: a client waiting for
 * its ticket before handing RX to the kernel watches this. */
unsigned tls_conn_records_read(const struct tls_conn *c);

/* The identity's length in bytes (it may hold NULs; the audit log
 * escapes them). */
size_t tls_conn_peer_id_len(const struct tls_conn *c);

/* The peer certificate's subject CN ("" if none), raw bytes like peer_id. */
const char *tls_conn_peer_cn(const struct tls_conn *c);

/* "TLSv1.3" and the ciphersuite name, once the handshake is done. */
const char *tls_conn_version(const struct tls_conn *c);
const char *tls_conn_cipher(const struct tls_conn *c);

/* The suite's IANA name ("TLS_AES_128_GCM_SHA256",
 * "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"), once the handshake is done;
 * mbedTLS's name for a suite mtlsd does not offer. */
const char *tls_conn_cipher_iana(const struct tls_conn *c);

/* The IANA name of ciphersuite id (0x1301, 0xc02b, ...) among those mtlsd
 * offers, or NULL. */
const char *tls_cipher_iana(int id);

/*
 * The server name: the one a client sends (its server_name), or the one a
 * server received in the ClientHello (raw bytes, escape before logging);
 * "" when none.  Valid until tls_conn_free().
 */
const char *tls_conn_sni(const struct tls_conn *c);

/*
 * The peer certificate's serial (lowercase hex, leading zero bytes
 * dropped), the SHA-256 of its DER (64 lowercase hex digits) and its
 * issuer's DN (as mbedTLS prints it: "CN=mesh CA, O=example", in the
 * certificate's order; raw bytes, escape before logging); "" when unknown.
 * Known from certificate verification on (also when it failed), and for a
 * resumed session from the certificate its ticket carried.  Valid until
 * tls_conn_free().
 */
const char *tls_conn_peer_serial(struct tls_conn *c);
const char *tls_conn_peer_fingerprint(struct tls_conn *c);
const char *tls_conn_peer_issuer(struct tls_conn *c);

/* mbedTLS's version: the library's at run time ("Mbed TLS 3.6.6", a static
 * string), and its headers' at build time ("3.6.6"). */
const char *tls_library_version(void);
const char *tls_library_built_version(void);

/*
 * Kernel TLS.  After the handshake, tls_ktls_start_tx() and then
 * tls_ktls_start_rx() (both, in that order; RX may wait, see below) hand the
 * record keys to the socket, so plain reads, writes and splice() on the fd
 * carry application data and the kernel does the crypto.  Once both are in
 * the kernel, mbedTLS's session is freed; tls_conn_close_notify() and
 * tls_ktls_recv() keep working, tls_conn_read()/write() must not be called.
 * Needs a context built with tls_params.ktls.  Each returns 0, or -1 with a
 * reason in *why: after a failed start_tx nothing changed (the session can go
 * on in user space); after a failed start_rx the connection must be closed.
 */
bool tls_ktls_available(void);			/* probes once, thread-safe */
int tls_ktls_start_tx(struct tls_conn *c, const char **why);
int tls_ktls_start_rx(struct tls_conn *c, const char **why);


/*
 * After start_rx, when splice() from the fd fails with EINVAL (a non-data
 * record is next): reads one record into buf.  Returns data bytes (> 0),
 * TLS_RETRY (a NewSessionTicket was dropped), TLS_EOF (close_notify, or TCP
 * EOF: see tls_conn_truncated), TLS_WANT_READ, or TLS_ERR (a fatal alert, a
 * KeyUpdate, anything else unexpected; reason in tls_conn_fail()).
 */
ssize_t tls_ktls_recv(struct tls_conn *c, void *buf, size_t len);

/* Which layer seals (tx) and opens (rx) c's records now. */
enum tls_layer tls_conn_tx_layer(const struct tls_conn *c);
enum tls_layer tls_conn_rx_layer(const struct tls_conn *c);
const char *tls_layer_name(enum tls_layer l);	/* "kernel", "libgcrypt", "mbedtls" */

/*
 * mtlsd's own record layer (tls_rec.c), on libgcrypt.  After the handshake,
 * tls_rec_start_tx() and tls_rec_start_rx() take each direction's keys from
 * mbedTLS (RX may wait as for kernel TLS: see tls_conn_rx_ready()).  Once
 * both have, mbedTLS's session is freed.  Records are sealed and opened in
 * the caller's buffer; this module never copies a payload.  The start
 * calls return 0, or -1 with *why (nothing changed: the direction stays
 * with mbedTLS).
 */
#define TLS_REC_HEADER		5	/* a record's type, version, length */
#define TLS_REC_PAYLOAD_MAX	16384	/* plaintext bytes per record */
int tls_rec_global_init(void);			/* libgcrypt; once, any thread */
const char *tls_rec_library_version(void);	/* libgcrypt's version */
int tls_rec_start_tx(struct tls_conn *c, const char **why);
int tls_rec_start_rx(struct tls_conn *c, const char **why);

/* Whether RX can leave mbedTLS now: nothing received waits inside it. */
bool tls_conn_rx_ready(const struct tls_conn *c);

/* Room a sealed record needs before (*pre, the header) and after (*post,
 * the tag) its payload, on this connection (TX). */
void tls_rec_frame(const struct tls_conn *c, size_t *pre, size_t *post);

/*
 * Before sealing new records: sends our control records (a KeyUpdate, an
 * answer to the peer's, an alert) once every sealed byte was sent, and
 * starts a KeyUpdate when the key is due.  TLS_OK (seal now, at most
 * tls_rec_tx_room() records), TLS_WANT_WRITE, or TLS_ERR (a TLS 1.2
 * AES-GCM key at its limit among them: tls_conn_end_reason() says so).
 */
int tls_rec_tx_ready(struct tls_conn *c);
size_t tls_rec_tx_room(const struct tls_conn *c);

/* Whether control records wait to be sent (call tls_rec_tx_ready()). */
bool tls_rec_tx_pending(const struct tls_conn *c);

/*
 * Seals len (<= TLS_REC_PAYLOAD_MAX) bytes of data at p in place; pre bytes
 * before p and post after p + len are the record's (tls_rec_frame).
 * Returns the record's length, starting at p - pre, or TLS_ERR.
 */
ssize_t tls_rec_seal(struct tls_conn *c, unsigned char *p, size_t len);

/* Sends sealed bytes: count > 0, TLS_WANT_WRITE or TLS_ERR. */
ssize_t tls_rec_send(struct tls_conn *c, const unsigned char *p, size_t len);

/* Receives ciphertext: count > 0, TLS_WANT_READ, TLS_EOF (TCP ended: see
 * tls_conn_truncated) or TLS_ERR. */
ssize_t tls_rec_recv(struct tls_conn *c, unsigned char *p, size_t len);

/*
 * Opens the record at p, of which avail bytes were received.  TLS_WANT_READ
 * if it is not all there; otherwise *rec_len is its length and the result
 * is the number of data bytes (0: none, e.g. a dropped ticket or a
 * KeyUpdate that was followed) now in plaintext at *data, TLS_EOF
 * (close_notify), or TLS_ERR (our alert was sent where it could be).
 */
ssize_t tls_rec_open(struct tls_conn *c, unsigned char *p, size_t avail,
    size_t *rec_len, unsigned char **data);

/* KeyUpdates sent and received so far (own layer). */
uint64_t tls_conn_key_updates(const struct tls_conn *c);

/*
 * Record operations (tls_io.c): the relay's one view of a connection's
 * records, whichever layer carries them (haproxy's xprt_ops, libevent's
 * le_ssl_ops).  Each direction has a buffer the proxy owns and pools; the
 * layer keeps its bookkeeping in it.  The relay's pump for a direction is
 * the same on every layer:
 *
 *   up   (plain -> TLS): tls_up_send() what the buffer holds; when it holds
 *        nothing, tls_up_ready() (control records), then at the source's
 *        end tls_up_close(), else tls_up_fill() from the plain fd.
 *   down (TLS -> plain): tls_down_send() what the buffer holds to the plain
 *        fd; when it holds nothing, tls_down_fill() from the TLS socket.
 *
 * Results: counts, TLS_OK, TLS_WANT_READ / TLS_WANT_WRITE (the TLS
 * socket, or for the plain side's fill and send, the plain socket),
 * TLS_EOF, TLS_ERR (the TLS side: tls_conn_fail(), tls_conn_end_reason())
 * or TLS_ERR_PLAIN (the plain socket failed: errno says why).
 */
#define TLS_ERR_PLAIN	(-6)

/* The largest record a peer may send (TLS 1.2: 5 + 2^14 + 2048): the
 * smallest buffer mtlsd's own layer runs in. */
#define TLS_OWN_MIN_BUFFER (5 + 16384 + 2048)

struct tls_buf {
	unsigned char *data;	/* from the proxy's pool; NULL while idle */
	size_t cap;
	size_t off, len;	/* the layer's bookkeeping */
	size_t mark, part;
	int pipe[2];		/* kernel TLS: a pipe instead, from the proxy's pool */
	size_t in_pipe;
};

/* Fill flags. */
#define TLS_IO_MORE	1	/* the source may have more without waiting */
#define TLS_IO_EOF	2	/* the source ended (after the bytes returned) */

/* Whether the direction (up: plain -> TLS) moves through a pipe rather
 * than a buffer now; whether the buffer holds nothing (it may go back). */
bool tls_io_uses_pipe(const struct tls_conn *c, bool up);
bool tls_buf_idle(const struct tls_buf *b);

/* up.  send: TLS_OK once nothing is held; adds plaintext bytes that left
 * to *delivered.  ready: TLS_OK, TLS_WANT_WRITE or TLS_ERR.  fill: bytes
 * read (> 0), 0 at the source's EOF, TLS_WANT_READ, TLS_ERR(_PLAIN).
 * close: close_notify, then shutdown(SHUT_WR) (TLS_OK), or TLS_WANT_*.
 * pending: the layer has bytes of its own to send (wait for writable and
 * run the pump). */
int tls_up_send(struct tls_conn *c, struct tls_buf *b, uint64_t *delivered);
int tls_up_ready(struct tls_conn *c);
ssize_t tls_up_fill(struct tls_conn *c, struct tls_buf *b, int plain_fd,
    uint64_t *delivered, unsigned *flags);
int tls_up_close(struct tls_conn *c);
bool tls_up_pending(const struct tls_conn *c);

/* down.  fill: plaintext bytes now held (>= 0; flags say more or EOF),
 * TLS_WANT_READ, TLS_WANT_WRITE or TLS_ERR.  send: bytes sent (> 0), 0 when
 * nothing is held, TLS_WANT_WRITE or TLS_ERR_PLAIN. */
ssize_t tls_down_fill(struct tls_conn *c, struct tls_buf *b, unsigned *flags);
ssize_t tls_down_send(struct tls_conn *c, struct tls_buf *b, int plain_fd);

/* A close reason of the connection's own after TLS_ERR ("key_limit",
 * "ktls_failed"), or NULL. */
const char *tls_conn_end_reason(const struct tls_conn *c);

/*
 * After the handshake: hands the records to the kernel, or to mtlsd's own
 * layer, as s allows, else keeps them in mbedTLS.  Returns 0, or TLS_ERR
 * (RX could not follow TX: close).  s->kernel_why and s->own_why say why a
 * layer that was allowed was not taken (NULL: taken, or not tried).
 */
struct tls_switch {
	bool kernel;		/* the route allows kernel TLS */
	bool own;		/* ... and mtlsd's own layer */
	bool rx_waits;		/* a resuming client: RX stays in mbedTLS for
				 * the server's first record (its ticket) */
	size_t buf_cap;		/* the relay's direction buffers */
	const char *kernel_why, *own_why;
};
int tls_conn_switch(struct tls_conn *c, struct tls_switch *s);

/* While RX waits in mbedTLS: moves it once the first record is in and
 * nothing is left in mbedTLS or in down.  0 (not yet, or nothing to do),
 * 1 (moved), or TLS_ERR (close). */
int tls_conn_rx_settle(struct tls_conn *c, const struct tls_buf *down, bool down_eof);

#endif /* MTLSD_TLS_TLS_H */
