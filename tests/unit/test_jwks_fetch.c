/* The jwks_url fetcher's clock and resolver: a host name is looked up on
 * the loop through evdns (here against a nameserver the test runs, so a
 * blocking getaddrinfo could not pass); the set is fetched again on the
 * refresh timer; asks for an unknown kid wait until a minute has passed
 * since the last fetch and merge into one; a failed lookup or one that never
 * answers ends the fetch (at timeout_s) and keeps the last good set.
 * jwks.c is included for its fetcher's schedule (last_start, next_at); "a
 * minute passes" is written into last_start, so nothing here waits on the
 * wall clock. */
#include "../../src/jwks.c"

#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/dns_struct.h>
#include <event2/thread.h>
#include "check.h"
#include "jose_fixture.h"

struct keys_server {
    char body[1000];
    int hits;
};

static void serve(struct evhttp_request *req, void *arg)
{
    struct keys_server *s = arg;
    s->hits++;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, s->body, strlen(s->body));
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

enum dns_mode { DNS_ANSWER, DNS_NXDOMAIN, DNS_SILENT };

struct nameserver {
    enum dns_mode mode;
    int queries; /* A questions for "localhost" */
};

/* Answers "localhost" with 127.0.0.1 (AAAA with no address), or not at all. */
static void on_query(struct evdns_server_request *req, void *arg)
{
    struct nameserver *ns = arg;
    int err = 0;
    for (int i = 0; i < req->nquestions; i++) {
        const struct evdns_server_question *q = req->questions[i];
        if (strcasecmp(q->name, "localhost") != 0) { /* evdns mixes the case of its questions */
            err = DNS_ERR_NOTEXIST;
        } else if (q->type == EVDNS_TYPE_A) {
            ns->queries++;
            if (ns->mode == DNS_ANSWER) {
                struct in_addr lo = {.s_addr = htonl(INADDR_LOOPBACK)};
                evdns_server_request_add_a_reply(req, q->name, 1, &lo, 60);
            }
        }
    }
    if (ns->mode == DNS_SILENT)
        evdns_server_request_drop(req);
    else
        evdns_server_request_respond(req, ns->mode == DNS_NXDOMAIN ? DNS_ERR_NOTEXIST : err);
}

/* Runs the loop until cond holds (CTest's timeout bounds a hang). */
#define RUN_UNTIL(base, cond) \
    do { \
        while (!(cond)) \
            event_base_loop((base), EVLOOP_ONCE); \
    } while (0)

static void spin(struct event_base *base)
{
    for (int i = 0; i < 50; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
}

static int bound_port(evutil_socket_t fd)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    getsockname(fd, (struct sockaddr *)&sin, &sl);
    return ntohs(sin.sin_port);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    struct event_base *base = event_base_new();

    struct keys_server ks = {.hits = 0};
    EVP_PKEY *k = fx_keygen("Ed25519");
    char jwk[300];
    fx_jwk(k, "one", NULL, jwk, sizeof jwk);
    snprintf(ks.body, sizeof ks.body, "{\"keys\":[%s]}", jwk);
    struct evhttp *http = evhttp_new(base);
    evhttp_set_gencb(http, serve, &ks);
    struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    CHECK(sock != NULL);
    int http_port = bound_port(evhttp_bound_socket_get_fd(sock));

    /* The nameserver, and a resolver that asks only it (no /etc/hosts). */
    struct nameserver ns = {.mode = DNS_ANSWER};
    evutil_socket_t udp = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(udp >= 0 && bind(udp, (struct sockaddr *)&lo, sizeof lo) == 0);
    evutil_make_socket_nonblocking(udp);
    struct evdns_server_port *port = evdns_add_server_port_with_base(base, udp, 0, on_query, &ns);
    struct evdns_base *dns = evdns_base_new(base, 0);
    char nsaddr[64];
    snprintf(nsaddr, sizeof nsaddr, "127.0.0.1:%d", bound_port(udp));
    CHECK(port && dns && evdns_base_nameserver_ip_add(dns, nsaddr) == 0);
    evdns_base_set_option(dns, "timeout:", "1");

    char url[100], err[300] = "";
    snprintf(url, sizeof url, "http://localhost:%d/certs", http_port);
    struct jwks_holder holder;
    jwks_holder_init(&holder);
    struct jwks_fetcher_opts o = {.url = url, .refresh_s = 3600, .min_gap_s = 60, .timeout_s = 10, .dns = dns};
    struct jwks_fetcher *f = jwks_fetcher_new(base, &o, &holder, err, sizeof err);
    CHECK(f != NULL);
    if (!f) {
        fprintf(stderr, "%s\n", err);
        return check_report();
    }
    /* The first fetch starts at once; its name goes to the nameserver. */
    CHECK(f->conn != NULL && ns.queries == 0);
    RUN_UNTIL(base, f->good >= 1);
    CHECK(ns.queries >= 1 && ks.hits == 1);
    struct jwks *set = jwks_holder_get(&holder);
    CHECK(set && jwks_find(set, "one"));
    jwks_unref(set);
    /* The refresh is due refresh_s after the answer. */
    CHECK(f->next_at >= f->last_start + 3600 && f->next_at <= mono_now() + 3600);

    /* Unknown kids within the minute: one fetch is set for the minute's
     * end, however many ask; none happens now. */
    double first = f->last_start;
    for (int i = 0; i < 5; i++)
        jwks_fetcher_request(f);
    spin(base);
    CHECK(ks.hits == 1 && f->conn == NULL);
    CHECK(f->next_at == first + 60);

    /* The minute has passed: the next ask fetches at once, and the one
     * after it waits again. */
    f->last_start -= 60;
    jwks_fetcher_request(f);
    RUN_UNTIL(base, ks.hits >= 2);
    RUN_UNTIL(base, f->good >= 2);
    CHECK(f->next_at >= f->last_start + 3600);
    jwks_fetcher_request(f);
    spin(base);
    CHECK(ks.hits == 2 && f->next_at == f->last_start + 60);
    jwks_fetcher_free(f);

    /* The refresh timer alone fetches again, and again. */
    o.refresh_s = 0.05;
    f = jwks_fetcher_new(base, &o, &holder, err, sizeof err);
    CHECK(f != NULL);
    RUN_UNTIL(base, f->good >= 3);
    CHECK(ks.hits == 5 && f->failed == 0);

    /* The name stops resolving: the fetch fails, the set stays. */
    ns.mode = DNS_NXDOMAIN;
    RUN_UNTIL(base, f->failed >= 1);
    CHECK(f->good == 3);
    set = jwks_holder_get(&holder);
    CHECK(set && jwks_find(set, "one"));
    jwks_unref(set);
    jwks_fetcher_free(f);

    /* The nameserver never answers: the fetch ends at timeout_s. */
    ns.mode = DNS_SILENT;
    o.refresh_s = 3600;
    o.timeout_s = 0.2;
    f = jwks_fetcher_new(base, &o, &holder, err, sizeof err);
    CHECK(f != NULL);
    RUN_UNTIL(base, f->failed >= 1);
    CHECK(f->good == 0 && f->conn == NULL && ks.hits == 5);
    set = jwks_holder_get(&holder);
    CHECK(set && jwks_find(set, "one"));
    jwks_unref(set);
    jwks_fetcher_free(f);

    /* An IP address needs no resolver; a name without one gets the
     * system's (made and freed by the fetcher). */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/certs", http_port);
    o = (struct jwks_fetcher_opts){.url = url, .refresh_s = 3600, .min_gap_s = 60, .timeout_s = 10};
    f = jwks_fetcher_new(base, &o, &holder, err, sizeof err);
    CHECK(f && f->dns == NULL && !f->own_dns);
    RUN_UNTIL(base, f->good >= 1);
    jwks_fetcher_free(f);
    snprintf(url, sizeof url, "http://localhost:%d/certs", http_port);
    f = jwks_fetcher_new(base, &o, &holder, err, sizeof err);
    CHECK(f && f->dns != NULL && f->own_dns);
    jwks_fetcher_free(f); /* with its lookup under way */

    /* Lookups still pending end with the resolver, before the loop. */
    evdns_base_free(dns, 1);
    evdns_close_server_port(port);
    close(udp);
    jwks_holder_destroy(&holder);
    EVP_PKEY_free(k);
    evhttp_free(http);
    spin(base);
    event_base_free(base);
    return check_report();
}
