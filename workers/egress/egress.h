/*
 * The egress role: the only process that opens outbound connections. It
 * resolves names itself (evdns, never /etc/hosts, never a second lookup),
 * vets every address with the guard, pins libcurl to the vetted addresses,
 * and asks the vault for the secrets a request names over the direct link.
 */
#ifndef HD_EGRESS_H
#define HD_EGRESS_H

#include <curl/curl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc/chan.h"
#include "ipc/proto.h"

#define EGRESS_MAX_ADDRS 16

struct egress_ctx {
	struct event_base *base;
	struct evdns_base *dns;
	CURLM *multi;
	struct event *timer;
	struct guard_list *allow;
	struct curl_blob ca;        /* the CA bundle, read before the root went empty */
	struct chan *vault;         /* the direct link, or NULL while there is none */
	uint32_t vault_seq;
	unsigned ports[32];         /* HELMDECK_EGRESS_PORTS: open to public targets */
	int nports;
};
extern struct egress_ctx eg;

/* A vetted target: every address its name resolved to passed the guard. */
struct egress_target {
	char scheme[8];
	char host[256];            /* normalized name, or the literal as given */
	int literal;
	unsigned port;
	char path[2048];           /* for the credential's path pattern */
	struct sockaddr_storage addrs[EGRESS_MAX_ADDRS];
	int naddrs;
};

/* Resolve and vet; cb runs once, with ok=1, or ok=0 and why it was refused
 * (code is invalid_input for a blocked or unresolvable target). */
typedef void (*egress_vet_cb)(void *arg, int ok, const char *code, const char *why);
void egress_vet(struct egress_target *t, const char *actor, const char *client, const char *pack, int hop,
		egress_vet_cb cb, void *arg);
/* An address as text; IPv6 in brackets when bracket_v6 (URL/RESOLVE form). */
void egress_addr_str(const struct sockaddr_storage *ss, int bracket_v6, char *out, size_t n);
/* Parse an absolute http(s) URL into t (no resolution). -1 with why. */
int egress_parse_url(const char *url, struct egress_target *t, char *why, size_t wlen);

/* One http.fetch from the supervisor (egress_http.c). */
void egress_http_start(uint32_t sup_id, const struct p_egress_fetch *m);
/* The vault answered a resolve of ours; -1 if nobody asked (a violation). */
int egress_http_secret(uint32_t link_id, const struct p_vault_secret *s);
/* The link is gone: every request waiting for a secret fails now. */
void egress_http_link_lost(void);
/* libcurl finished an easy handle this file started. */
void egress_http_done(CURL *easy, CURLcode rc);

void egress_audit(const char *event, const char *actor, const char *client, const char *pack,
		  const char *outcome, const char *code, const char *payload_json);
void egress_reply(uint32_t sup_id, int ok, const char *code, const char *msg, const char *resp);
/* Ask the vault over the link; 0 when sent (the answer goes to
 * egress_http_secret with *link_id), -1 when there is no link. */
int egress_vault_resolve(const struct p_vault_resolve *q, uint32_t *link_id);
/* Hand an easy handle to the multi; done comes back through egress_http_done. */
void egress_add_easy(CURL *easy);

/* The proxy for sandboxes without a network (egress_proxy.c): serve the
 * listening socket fd (owned from now on) for one scope ("session:<id>").
 * HTTP: CONNECT and absolute-form requests; FIXED: every connection is
 * forwarded to fixed_host:fixed_port (ssh). Each target is vetted. */
enum egress_proxy_mode { EGRESS_PROXY_HTTP, EGRESS_PROXY_FIXED };
void egress_proxy_listen(int fd, enum egress_proxy_mode mode, const char *scope, const char *actor,
			 const char *client, const char *purpose, const char *fixed_host, unsigned fixed_port);
/* The sandbox ended: close its listener and every connection it made. */
void egress_proxy_close(const char *scope);

#endif
