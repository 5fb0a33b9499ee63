/*
 * fuzz.h: what the libFuzzer targets in tests/fuzz/ share.
 *
 * One binary per tests/fuzz/fuzz_<name>.c, built by `make fuzz` with clang
 * (-fsanitize=fuzzer,address,undefined) against the project's sources in
 * build/fuzz/, and run by tests/fuzz/run.sh on a copy of corpus/<name>/.
 * Besides the sanitizers, each target checks what the module documents
 * (FUZZ_CHECK): a broken promise aborts, so libFuzzer keeps the input.
 */
#ifndef MTLSD_TESTS_FUZZ_FUZZ_H
#define MTLSD_TESTS_FUZZ_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls.h"

/* libFuzzer's entry points (it declares none itself). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A documented property did not hold: say which, and abort (a crash). */
#define FUZZ_CHECK(cond, ...) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz check failed at %s:%d: %s: ",	\
		    __FILE__, __LINE__, #cond);				\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		abort();						\
	}								\
} while (0)

/* The harness itself could not start (not a finding). */
#define FUZZ_SETUP(cond, ...) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz setup failed at %s:%d: ",		\
		    __FILE__, __LINE__);				\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		exit(2);						\
	}								\
} while (0)

/* Reads an input front to back; past its end every read is 0. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t
fuzz_u8(struct fuzz_in *in)
{
	uint8_t v = 0;

	if (in->n > 0) {
		v = in->p[0];
		in->p++;
		in->n--;
	}
	return v;
}

static inline uint16_t
fuzz_u16(struct fuzz_in *in)
{
	uint16_t hi = fuzz_u8(in);

	return (uint16_t)(hi << 8 | fuzz_u8(in));
}

/* Up to want bytes, as they lie in the input; *got says how many. */
static inline const uint8_t *
fuzz_bytes(struct fuzz_in *in, size_t want, size_t *got)
{
	const uint8_t *p = in->p;

	*got = want < in->n ? want : in->n;
	in->p += *got;
	in->n -= *got;
	return p;
}

/* A malloc'd copy of p[0..n) with a NUL after it: exactly n + 1 bytes, so
 * AddressSanitizer sees any read past the terminator. */
static inline char *
fuzz_strndup(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	FUZZ_SETUP(s != NULL, "out of memory");
	if (n > 0)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/*
 * pki.c: a throwaway PKI made once per process with `mtlsd certs`
 * (certs_main, in-process) under $TMPDIR: ca, "server" (dns:localhost,
 * uri:spiffe://t/server) and "client" (uri:spiffe://t/client).  Removed at
 * exit.  Also runs tls_global_init().
 */
const char *fuzz_pki_dir(void);

/* Parameters for a route with DIR/name.crt and .key (name NULL: no
 * certificate), trusting the CA, TLS 1.3, client certificates required.
 * The paths are tests/unit/pki.c's pki_at(): valid for its next 63 calls. */
struct tls_params fuzz_params(enum tls_role role, const char *name);

/* tls_material_load() + tls_ctx_new() that must work. */
struct tls_material *fuzz_material(const struct tls_params *p);
struct tls_ctx *fuzz_ctx(const struct tls_material *m);

/* Drives a server and a client handshake on the two ends of a socketpair
 * until both are done; exits (setup failure) if they do not come up. */
void fuzz_handshake_pair(struct tls_conn *server, struct tls_conn *client);

#endif /* MTLSD_TESTS_FUZZ_FUZZ_H */
