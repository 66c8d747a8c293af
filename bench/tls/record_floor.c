/* The C floor for bench/Ferry.Benchmarks tls-record (issue 11): one 64 B TLS 1.3 record written by a
 * client SSL and read by a server SSL through memory BIOs, ns of thread CPU per message.
 * cc -O2 -o /tmp/record_floor bench/tls/record_floor.c -lssl -lcrypto && /tmp/record_floor cert.pem key.pem */
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>

static double cpu(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static void move(BIO *from, BIO *to) {
    char buf[65536]; int n;
    while ((n = BIO_read(from, buf, sizeof buf)) > 0) BIO_write(to, buf, n);
}

int main(int argc, char **argv) {
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION);
    if (!getenv("KEEP_BUFFERS")) SSL_CTX_set_mode(sctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(sctx, argv[1]) != 1 || SSL_CTX_use_PrivateKey_file(sctx, argv[2], SSL_FILETYPE_PEM) != 1) { ERR_print_errors_fp(stderr); return 1; }
    SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
    BIO *s_in = BIO_new(BIO_s_mem()), *s_out = BIO_new(BIO_s_mem()), *c_in = BIO_new(BIO_s_mem()), *c_out = BIO_new(BIO_s_mem());
    SSL_set_bio(s, s_in, s_out); SSL_set_bio(c, c_in, c_out);
    SSL_set_accept_state(s); SSL_set_connect_state(c);
    for (int i = 0; i < 10; i++) { SSL_do_handshake(c); move(c_out, s_in); SSL_do_handshake(s); move(s_out, c_in); }
    char msg[64] = {0}, into[16384];
    SSL_read(c, into, sizeof into); /* tickets */
    int n = argc > 3 ? atoi(argv[3]) : 1000000;
    for (int i = 0; i < n / 10; i++) { SSL_write(c, msg, 64); move(c_out, s_in); SSL_read(s, into, sizeof into); }
    double t0 = cpu();
    for (int i = 0; i < n; i++) {
        if (SSL_write(c, msg, 64) != 64) return 2;
        move(c_out, s_in);
        if (SSL_read(s, into, sizeof into) != 64) return 3;
        SSL_read(s, into, sizeof into); /* WANT_READ, as the engine's loop does */
    }
    printf("openssl C, mem BIOs: %.0f ns/msg cpu (%d x 64 B, write + read)\n", (cpu() - t0) * 1e9 / n, n);
    return 0;
}
