/*
 * tls_int.h: the structs behind tls.h's opaque types, shared by the files of
 * tls/ only.
 */
#ifndef MTLSD_TLS_TLS_INT_H
#define MTLSD_TLS_TLS_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/gcm.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>

#include "tls/tls.h"
#include "tls/tls_x509.h"

/* A file's bytes, NUL-terminated (PEM parsers need it); len counts the NUL. */
struct tls_blob {
	unsigned char *data;
	size_t len;
};

struct tls_material {
	atomic_int refs;
	enum tls_role role;
	struct tls_blob cert, key, ca, crl;
	char *password;			/* from key_password_file, or NULL */
	unsigned char secret_digest[32];	/* SHA-256 of key and password */
	bool resumption;		/* session tickets (tls_ticket.c) */
	unsigned char ticket_key[32];	/* servers: seals tickets; random per load */
	unsigned char ticket_name[4];
	/* Clients: the newest ticket per server name, shared by the route's
	 * workers (a reconnect may land on any of them).  A client route has
	 * one name; a transparent route one per peer it dialed.  Touched at
	 * connection set-up only, never on the data path. */
	pthread_mutex_t ticket_lock;
	struct tls_ticket_slot *tickets;	/* TLS_TICKET_SLOTS, made on first use */
	uint64_t ticket_clock;		/* orders the slots' last use */
	atomic_int builders;		/* contexts still to be built from key */
	int min_version;
	enum tls_auth client_auth;
	bool crl_stale_refuse;
	bool want_ktls;
	bool want_own;
	uint64_t key_limit;
	bool ktls_required;
	struct peer_pattern *peers;
	size_t npeers;
	time_t not_after;		/* own certificate's */
	unsigned own_ip_sans;		/* own certificate's iPAddress SANs */
	time_t crl_next_update;		/* earliest of the CRLs'; 0 if none */
};

#define TLS_PEER_ID_MAX 256

/* One server's newest ticket, on the client side. */
#define TLS_TICKET_SLOTS 128
struct tls_ticket_slot {
	char name[256];			/* the server name it was issued under */
	unsigned char *blob;		/* mbedtls_ssl_session_save(); NULL: free */
	size_t len;
	char id[TLS_PEER_ID_MAX];	/* the identity of the server it came from */
	size_t id_len;
	uint64_t used;			/* ticket_clock at the last offer or keep */
};

/* Immutable once tls_ctx_new() returns (tls.h), but for refs: what a
 * session learns goes in its tls_conn, never here. */
struct tls_ctx {
	int refs;			/* one thread: no atomics needed */
	enum tls_role role;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt own_chain;
	mbedtls_pk_context own_key;
	mbedtls_x509_crt ca;
	mbedtls_x509_crl crl;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	bool crl_stale_refuse;
	int authmode;			/* MBEDTLS_SSL_VERIFY_*, as conf has it */
	bool want_ktls;			/* records may go to the kernel */
	bool want_own;			/* ... or to mtlsd's own layer */
	uint64_t key_limit;		/* own layer: records per key */
	/* session resumption (tls_ticket.c) */
	bool resumption;
	mbedtls_gcm_context ticket_gcm;	/* servers: the material's ticket key */
	unsigned char ticket_name[4];
	struct tls_material *m;		/* clients: where the ticket is kept */
	struct peer_pattern *peers;	/* owned copy */
	size_t npeers;
};

struct tls_export;
struct tls_rec;

/* What a fast record layer needs of one direction (tls_keys.c). */
enum tls_aead { TLS_AEAD_AES_128_GCM, TLS_AEAD_AES_256_GCM, TLS_AEAD_CHACHA20_POLY1305 };
struct tls_dir_keys {
	enum tls_aead aead;
	bool v13;
	size_t key_len;
	unsigned char key[32];
	unsigned char iv[12];		/* TLS 1.2 AES-GCM: the 4-byte salt only */
	uint64_t seq;			/* the next record's number */
	unsigned char secret[48];	/* TLS 1.3: the traffic secret (KeyUpdate) */
	size_t secret_len;
	int md;				/* TLS 1.3: the key schedule's hash */
};

struct tls_conn {
	struct tls_ctx *ctx;
	int fd;
	const char *server_name;	/* client role; borrowed, outlives us */
	mbedtls_ssl_context ssl;
	enum tls_fail fail;
	bool truncated;
	bool denied;			/* set by the verify callback */
	bool crl_stale;			/* a CRL past nextUpdate was used */
	char peer_id[TLS_PEER_ID_MAX];
	size_t peer_id_len;		/* bytes, NULs included */
	char peer_cn[TLS_PEER_ID_MAX];	/* subject CN, for PROXY v2 */
	char detail[256];
	bool name_detail;		/* detail names a name mismatch's names */
	time_t peer_not_after;		/* the peer certificate's notAfter */
	unsigned records_read;		/* records read after the handshake */
	bool write_pending;		/* a record of ours is part-sent (WANT_WRITE) */
	size_t write_pending_len;	/* ... holding this many of the caller's bytes */
	bool close_pending;		/* ditto for close_notify */
	/* Bytes mbedTLS flushed while reading (a ticket's handshake step)
	 * that the socket would not take yet: sent before anything else. */
	bool in_read;
	unsigned char *spill;
	size_t spill_off, spill_len;
	/* Read-ahead (tls_conn_read_ahead): bytes one recv() took past what
	 * mbedTLS asked for, handed to it before the socket is read again. */
	unsigned char *ra;		/* TLS_READ_AHEAD bytes; NULL: off */
	size_t ra_off, ra_len;
	bool ra_bulk;			/* the last body read was long: read exactly */
	bool resumed;			/* the handshake resumed a session */
	bool saw_cert;			/* the peer sent a certificate this time */
	bool offered;			/* clients: a ticket was offered */
	char offered_id[TLS_PEER_ID_MAX];
	size_t offered_id_len;
	/* the fast record layers (tls_keys.c, tls_ktls.c, tls_rec.c) */
	struct tls_export *keys;	/* secrets until the switch */
	enum tls_layer tx_layer, rx_layer;	/* who seals and opens records */
	struct tls_rec *rec;		/* mtlsd's own layer's state */
	uint64_t key_limit;		/* own layer: KeyUpdate after this many records */
	enum tls_layer rx_next;		/* RX waits in mbedTLS, then goes here */
	uint64_t tx_records;		/* mbedTLS, kernel: records sent (at most) */
	uint64_t tx_record_limit;	/* ... and where they must stop; 0: none */
	const char *end_reason;		/* a close reason of its own, or NULL */
	bool ssl_freed;			/* mbedTLS's session is gone */
	char version[16], cipher[64];	/* kept when ssl is freed */
	/* What the audit trail says of the peer's certificate (tls_peer.c):
	 * from the verify callback, or, for a resumed session, from the
	 * certificate the ticket or the session kept, on first ask. */
	bool facts;			/* peer_serial.. filled */
	char peer_serial[2 * 32 + 1];	/* lowercase hex; "" unknown */
	char peer_sha256[2 * 32 + 1];	/* of the DER, lowercase hex */
	char *peer_issuer;		/* its DN, malloc'd; NULL unknown */
	char *sni;			/* servers: the name the client sent */
	unsigned char *peer_der;	/* the peer's certificate, ditto */
	size_t peer_der_len;
};

/* A big-endian 64-bit number (record counters, ticket fields), read and
 * written. */
static inline uint64_t
tls_get_be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static inline void
tls_put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

/*
 * The mbedTLS internals mtlsd reads, and only here.  Each is a field of
 * mbedtls_ssl_context that mbedTLS 3.6 offers no public API for (the
 * reason is with each); tests/unit/test_mbedtls_abi.c fails to build if a
 * release renames or retypes one, and fails if one stops meaning what is
 * read here.  Read-only, always: mtlsd never writes mbedTLS's state.
 */

/* Bytes of records mbedTLS built that the socket has not taken yet: it
 * sends them before anything else, and a write's retry after WANT_WRITE
 * only finishes them (out_left).  mbedtls_ssl_check_pending() and
 * mbedtls_ssl_get_bytes_avail() speak of input only. */
static inline size_t
tls_mbed_unsent(const mbedtls_ssl_context *ssl)
{
	return ssl->MBEDTLS_PRIVATE(out_left);
}

/* Bytes of a record received in part (a header without all its body;
 * in_left).  mbedtls_ssl_check_pending() counts only what a whole record
 * brought on a stream transport. */
static inline size_t
tls_mbed_part_read(const mbedtls_ssl_context *ssl)
{
	return ssl->MBEDTLS_PRIVATE(in_left);
}

/* The next record's sequence number, sent (tx) or received (cur_out_ctr,
 * in_ctr).  No getter; mbedtls_ssl_context_save() holds them, but only for
 * TLS 1.2, and it ends the context. */
static inline uint64_t
tls_mbed_seq(const mbedtls_ssl_context *ssl, bool tx)
{
	return tls_get_be64(tx ? ssl->MBEDTLS_PRIVATE(cur_out_ctr) :
	    ssl->MBEDTLS_PRIVATE(in_ctr));
}

/* Whether no handshake step is due: a write will build its record from
 * the caller's bytes at once (state == HANDSHAKE_OVER).
 * mbedtls_ssl_is_handshake_over() also says yes while a post-handshake
 * step (a NewSessionTicket) waits to run inside the next read or write. */
static inline bool
tls_mbed_at_rest(const mbedtls_ssl_context *ssl)
{
	return ssl->MBEDTLS_PRIVATE(state) == MBEDTLS_SSL_HANDSHAKE_OVER;
}

/* tls_ticket.c: random ticket key for a server material. */
int tls_ticket_material_init(struct tls_material *m);
/* tls_ticket.c: tickets on a new context (servers issue, clients keep). */
int tls_ticket_ctx_init(struct tls_ctx *ctx, const struct tls_material *m);
void tls_ticket_ctx_free(struct tls_ctx *ctx);
/* tls_ticket.c: c's handshake step runs now on this thread (NULL: it
 * returned); the ticket callbacks work on c. */
void tls_ticket_step(struct tls_conn *c);
/* tls_ticket.c: clients: offer the kept ticket; keep a new one; adopt the
 * ticket's identity after a resumed handshake. */
int tls_ticket_offer(struct tls_conn *c);
void tls_ticket_keep(struct tls_conn *c);
void tls_ticket_settle(struct tls_conn *c);
/* tls_ticket.c: clients: a handshake that offered a ticket failed; drop it. */
void tls_ticket_drop(struct tls_conn *c);

/* tls_keys.c: capture the traffic secrets during the handshake; wipe them. */
int tls_keys_watch(struct tls_conn *c);
void tls_keys_forget(struct tls_conn *c);

/* tls_keys.c: the suite's AEAD, key length and hash; false if neither fast
 * layer takes it. */
bool tls_keys_suite(int id, enum tls_aead *aead, size_t *key_len, int *md);

/* tls_keys.c: one direction's keys (tx: ours) and next record number, as
 * the handshake left them.  0, or -1 with *why. */
int tls_keys_derive(struct tls_conn *c, bool tx, struct tls_dir_keys *k,
    const char **why);

/* tls_keys.c: key and IV from k->secret; the next generation of k
 * (KeyUpdate, TLS 1.3 only; seq restarts at 0).  0 or -1. */
int tls_dir_keys_from_secret(struct tls_dir_keys *k);
int tls_dir_keys_update(struct tls_dir_keys *k);
void tls_dir_keys_wipe(struct tls_dir_keys *k);

/* tls_keys.c: moves one direction out of mbedTLS to layer, if it may leave
 * now (TX: nothing unsent; RX: tls_conn_rx_ready()): take() sets the
 * layer's keys up, then mbedTLS may no longer write (TX), and its session
 * is freed once both directions have left.  0, or -1 with *why (nothing
 * changed). */
int tls_keys_hand_over(struct tls_conn *c, bool tx, enum tls_layer layer,
    int (*take)(struct tls_conn *c, bool tx, const char **why), const char **why);

/* tls_conn.c: from now on mbedTLS's sends fail (TX has left it). */
void tls_conn_bio_tx_off(struct tls_conn *c);

/* tls_io.c: a key at its limit on a layer that cannot change it (sets
 * end_reason "key_limit").  TLS_ERR. */
int tls_io_key_exhausted(struct tls_conn *c);

/* The record operations of each layer behind tls_io.c's (see tls.h). */
int tls_rec_up_send(struct tls_conn *c, struct tls_buf *b);
ssize_t tls_rec_up_fill(struct tls_conn *c, struct tls_buf *b, int plain_fd,
    uint64_t *delivered, unsigned *flags);
ssize_t tls_rec_down_fill(struct tls_conn *c, struct tls_buf *b, unsigned *flags);
ssize_t tls_rec_down_send(struct tls_buf *b, int plain_fd);
int tls_ktls_up_send(struct tls_conn *c, struct tls_buf *b, uint64_t *delivered);
ssize_t tls_ktls_up_fill(struct tls_buf *b, int plain_fd, unsigned *flags);
ssize_t tls_ktls_down_fill(struct tls_conn *c, struct tls_buf *b, unsigned *flags);
ssize_t tls_ktls_down_send(struct tls_buf *b, int plain_fd);

/* tls_rec.c: frees the own layer's state, wiping its keys. */
void tls_rec_free(struct tls_conn *c);

/* tls_rec.c: one alert of ours, best effort (nothing half-sent). */
void tls_rec_alert(struct tls_conn *c, unsigned char level, unsigned char desc);

/* tls_rec.c: close_notify through the own layer. */
int tls_rec_close_notify(struct tls_conn *c);

/* tls_ktls.c: one alert record through kernel TLS. */
int tls_ktls_send_alert(struct tls_conn *c, unsigned char level, unsigned char desc);

/* tls_peer.c: the verify callback installed on every session. */
int tls_peer_verify(void *conn, mbedtls_x509_crt *crt, int depth, uint32_t *flags);

/* tls_peer.c: the identity string of a certificate (see tls_conn_peer_id);
 * returns its length. */
size_t tls_peer_identity(const mbedtls_x509_crt *crt, char *buf, size_t len);

/* tls_peer.c: how many ip: SANs a certificate carries. */
unsigned tls_cert_ip_sans(const mbedtls_x509_crt *crt);

/* tls_peer.c: the SNI callback of server contexts: keeps the name the
 * client sent on its session (the ssl context's user data). */
int tls_peer_sni(void *unused, mbedtls_ssl_context *ssl, const unsigned char *name,
    size_t len);

/* tls_peer.c: maps a failed handshake to a reason and a detail line. */
void tls_peer_classify(struct tls_conn *c, int mbedtls_ret);

/* Fills err with "what: mbedTLS's text for ret". */
void tls_error_set(struct tls_error *err, enum tls_file file, int ret,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif /* MTLSD_TLS_TLS_INT_H */
