/*
 * keyupdate.c: a TLS 1.3 client (OpenSSL) that sends a KeyUpdate mid-stream,
 * for the kernel-TLS suite: mtlsd cannot follow a key change with the
 * kernel's fixed keys and must close with a reason.
 *
 *   keyupdate HOST PORT CA CERT KEY
 *
 * Sends "before\n", reads the echo, sends a KeyUpdate and "after\n", then
 * reads until the connection ends.  Prints "echoed-before", then "closed" if
 * the server ended the connection instead of echoing "after".  Exit 0 when
 * both happened.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

int
main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char buf[256];
	SSL_CTX *ctx;
	SSL *ssl;
	int fd, n, echoed = 0;

	/* The server closes on us: a write may meet a reset, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 6) {
		fprintf(stderr, "usage: keyupdate HOST PORT CA CERT KEY\n");
		return 2;
	}
	sa.sin_port = htons((unsigned short)atoi(argv[2]));
	inet_pton(AF_INET, argv[1], &sa.sin_addr);
	ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_load_verify_locations(ctx, argv[3], NULL);
	SSL_CTX_use_certificate_file(ctx, argv[4], SSL_FILETYPE_PEM);
	SSL_CTX_use_PrivateKey_file(ctx, argv[5], SSL_FILETYPE_PEM);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		perror("connect");
		return 1;
	}
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, "localhost");
	SSL_set1_host(ssl, "localhost");
	if (SSL_connect(ssl) != 1) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	SSL_write(ssl, "before\n", 7);
	n = SSL_read(ssl, buf, sizeof(buf) - 1);
	if (n == 7 && memcmp(buf, "before\n", 7) == 0) {
		puts("echoed-before");
		echoed = 1;
	}
	if (SSL_key_update(ssl, SSL_KEY_UPDATE_NOT_REQUESTED) != 1) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	SSL_write(ssl, "after\n", 6);
	while ((n = SSL_read(ssl, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		printf("got: %s", buf);
	}
	puts("closed");
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return echoed ? 0 : 1;
}
