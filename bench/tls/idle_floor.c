/* What an idle server SSL holds after a TLS 1.3 handshake (issue 11), and which OpenSSL settings change it.
 * cc -O2 -o /tmp/idle_floor bench/tls/idle_floor.c -lssl -lcrypto && /tmp/idle_floor cert.pem key.pem 10000
 * Knobs (environment): NUM_TICKETS=n (SSL_CTX_set_num_tickets), FREE_BUFFERS=1 (SSL_free_buffers after the
 * handshake), NO_CACHE=1 (server session cache off). Prints malloc'd bytes per held SSL (mallinfo2). */
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

static void move(BIO *from, BIO *to) {
    char buf[65536]; int n;
    while ((n = BIO_read(from, buf, sizeof buf)) > 0) BIO_write(to, buf, n);
}

static SSL *handshake(SSL_CTX *sctx, SSL_CTX *cctx) {
    SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
    BIO *s_in = BIO_new(BIO_s_mem()), *s_out = BIO_new(BIO_s_mem()), *c_in = BIO_new(BIO_s_mem()), *c_out = BIO_new(BIO_s_mem());
    SSL_set_bio(s, s_in, s_out); SSL_set_bio(c, c_in, c_out);
    SSL_set_accept_state(s); SSL_set_connect_state(c);
    for (int i = 0; i < 10; i++) { SSL_do_handshake(c); move(c_out, s_in); SSL_do_handshake(s); move(s_out, c_in); }
    char into[64];
    SSL_read(c, into, sizeof into);
    SSL_free(c);
    if (getenv("FREE_BUFFERS")) SSL_free_buffers(s);
    /* The server's memory BIOs are what an engine without them would not hold: swap in empty ones. */
    SSL_set_bio(s, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
    return s;
}

int main(int argc, char **argv) {
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION);
    SSL_CTX_set_mode(sctx, SSL_MODE_RELEASE_BUFFERS);
    if (getenv("NUM_TICKETS")) SSL_CTX_set_num_tickets(sctx, atoi(getenv("NUM_TICKETS")));
    if (getenv("NO_CACHE")) SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_use_certificate_chain_file(sctx, argv[1]) != 1 || SSL_CTX_use_PrivateKey_file(sctx, argv[2], SSL_FILETYPE_PEM) != 1) { ERR_print_errors_fp(stderr); return 1; }
    int n = atoi(argv[3]);
    for (int i = 0; i < 100; i++) SSL_free(handshake(sctx, cctx));
    malloc_trim(0);
    struct mallinfo2 a = mallinfo2();
    SSL **held = malloc(sizeof(SSL *) * n);
    for (int i = 0; i < n; i++) held[i] = handshake(sctx, cctx);
    struct mallinfo2 b = mallinfo2();
    printf("NUM_TICKETS=%s FREE_BUFFERS=%s NO_CACHE=%s: %.0f B malloc'd per idle server SSL (%d held)\n", getenv("NUM_TICKETS") ?: "-",
           getenv("FREE_BUFFERS") ?: "-", getenv("NO_CACHE") ?: "-", (double)(b.uordblks + b.hblkhd - a.uordblks - a.hblkhd) / n - sizeof(SSL *), n);
    return 0;
}
