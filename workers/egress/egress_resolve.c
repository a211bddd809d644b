/*
 * Turning a URL into a vetted target: parse it with libcurl's own URL
 * parser (so we read the host exactly as the transfer will), resolve the
 * name ourselves, and pass every address through the guard. The transfer
 * is then pinned to these addresses; there is no second lookup to rebind.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "egress.h"
#include "common/log.h"
#include "common/util.h"
#include "workers/egress/guard.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int egress_parse_url(const char *url, struct egress_target *t, char *why, size_t wlen)
{
	memset(t, 0, sizeof *t);
	CURLU *u = curl_url();
	if (!u)
		fatal("curl_url");
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
	int rc = -1;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		snprintf(why, wlen, "not an absolute URL");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") && strcmp(scheme, "https"))) {
		snprintf(why, wlen, "only http and https URLs are fetched");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
		snprintf(why, wlen, "the URL has no host");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		snprintf(why, wlen, "the URL has no usable port");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		path = NULL;
	char *end;
	unsigned long p = strtoul(port, &end, 10);
	if (*end || p == 0 || p > 65535) {
		snprintf(why, wlen, "port %s is out of range", port);
		goto out;
	}
	snprintf(t->scheme, sizeof t->scheme, "%s", scheme);
	t->port = (unsigned)p;
	snprintf(t->path, sizeof t->path, "%s", path ? path : "/");
	int lit = guard_host_literal(host, &t->addrs[0]);
	if (lit < 0) {
		snprintf(why, wlen, "host %.200s is a malformed address", host);
		goto out;
	}
	if (lit == 1) {
		t->literal = 1;
		t->naddrs = 1;
		snprintf(t->host, sizeof t->host, "%s", host);
	} else if (guard_host_normalize(host, t->host, sizeof t->host) < 0) {
		snprintf(why, wlen, "host %.200s is not a valid name", host);
		goto out;
	}
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return rc;
}

struct vet {
	struct egress_target *t;
	char actor[128], client[128], pack[128];
	int hop;
	int pending, failed_queries;
	egress_vet_cb cb;
	void *arg;
};

void egress_addr_str(const struct sockaddr_storage *ss, int bracket_v6, char *out, size_t n)
{
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out, (socklen_t)n);
		return;
	}
	char a[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, a, sizeof a);
	snprintf(out, n, bracket_v6 ? "[%s]" : "%s", a);
}

/* Every address must pass: one private answer among public ones is how a
 * rebinding name would get in. */
static void vet_decide(struct vet *v)
{
	struct egress_target *t = v->t;
	char reason[256] = "", why[400];
	int blocked = 0;
	json_t *addrs = json_array();
	for (int i = 0; i < t->naddrs; i++) {
		char a[INET6_ADDRSTRLEN];
		egress_addr_str(&t->addrs[i], 0, a, sizeof a);
		json_array_append_new(addrs, json_string(a));
		char r[256];
		if (!blocked && guard_check_addr(eg.allow, t->literal ? NULL : t->host, (struct sockaddr *)&t->addrs[i],
						 r, sizeof r)) {
			blocked = 1;
			snprintf(reason, sizeof reason, "%s", r);
		}
	}
	if (t->naddrs == 0) {
		blocked = 1;
		snprintf(reason, sizeof reason, "%s does not resolve", t->host);
	}
	/* public targets only on the web ports; a target the operator opened
	 * with the allowlist may use any */
	int open_port = 0;
	for (int i = 0; i < eg.nports; i++)
		open_port |= eg.ports[i] == t->port;
	if (!blocked && !open_port) {
		int listed = 1;
		for (int i = 0; i < t->naddrs; i++)
			listed &= guard_allowlisted(eg.allow, t->literal ? NULL : t->host, (struct sockaddr *)&t->addrs[i]);
		if (!listed) {
			blocked = 1;
			snprintf(reason, sizeof reason, "port %u is not open for egress (HELMDECK_EGRESS_PORTS)", t->port);
		}
	}
	json_t *o = json_pack("{s:s,s:s,s:i,s:o,s:i,s:s}", "host", t->host, "scheme", t->scheme, "port", (int)t->port,
			      "addresses", addrs, "hop", v->hop, "reason", blocked ? reason : "vetted");
	char *payload = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	egress_audit(blocked ? "egress_blocked" : "egress_allowed", v->actor, v->client, v->pack,
		     blocked ? "blocked" : "allowed", blocked ? "invalid_input" : NULL, payload);
	free(payload);
	snprintf(why, sizeof why, "request to %s refused: %s", t->host, reason);
	v->cb(v->arg, !blocked, blocked ? "invalid_input" : NULL, blocked ? why : NULL);
	free(v);
}

static void vet_dns_cb(int result, char type, int count, int ttl, void *addresses, void *arg)
{
	(void)ttl;
	struct vet *v = arg;
	struct egress_target *t = v->t;
	if (result == DNS_ERR_NONE) {
		for (int i = 0; i < count && t->naddrs < EGRESS_MAX_ADDRS; i++) {
			struct sockaddr_storage *ss = &t->addrs[t->naddrs];
			memset(ss, 0, sizeof *ss);
			if (type == DNS_IPv4_A) {
				struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
				s4->sin_family = AF_INET;
				memcpy(&s4->sin_addr, (const uint8_t *)addresses + 4 * i, 4);
			} else if (type == DNS_IPv6_AAAA) {
				struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
				s6->sin6_family = AF_INET6;
				memcpy(&s6->sin6_addr, (const uint8_t *)addresses + 16 * i, 16);
			} else {
				continue;
			}
			t->naddrs++;
		}
	}
	if (--v->pending == 0)
		vet_decide(v);
}

static void vet_add(struct egress_target *t, int family, const char *text)
{
	struct sockaddr_storage *ss = &t->addrs[t->naddrs++];
	memset(ss, 0, sizeof *ss);
	ss->ss_family = (sa_family_t)family;
	if (family == AF_INET)
		inet_pton(AF_INET, text, &((struct sockaddr_in *)ss)->sin_addr);
	else
		inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)ss)->sin6_addr);
}

void egress_vet(struct egress_target *t, const char *actor, const char *client, const char *pack, int hop,
		egress_vet_cb cb, void *arg)
{
	struct vet *v = xcalloc(1, sizeof *v);
	v->t = t;
	snprintf(v->actor, sizeof v->actor, "%s", actor ? actor : "");
	snprintf(v->client, sizeof v->client, "%s", client ? client : "");
	snprintf(v->pack, sizeof v->pack, "%s", pack ? pack : "");
	v->hop = hop;
	v->cb = cb;
	v->arg = arg;
	if (t->literal) {
		vet_decide(v);
		return;
	}
	t->naddrs = 0;
	if (guard_host_is_localhost(t->host)) {
		/* RFC 6761: never asked of DNS, always loopback */
		vet_add(t, AF_INET, "127.0.0.1");
		vet_add(t, AF_INET6, "::1");
		vet_decide(v);
		return;
	}
	/* both queries are in flight before either can answer */
	v->pending = 3;
	if (!evdns_base_resolve_ipv4(eg.dns, t->host, DNS_QUERY_NO_SEARCH, vet_dns_cb, v))
		v->pending--;
	if (!evdns_base_resolve_ipv6(eg.dns, t->host, DNS_QUERY_NO_SEARCH, vet_dns_cb, v))
		v->pending--;
	if (--v->pending == 0)
		vet_decide(v);
}
