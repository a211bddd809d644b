# helmdeck in C. `make run` starts the platform, `make test` builds and runs
# every test; both install missing Debian packages first (scripts/deps.sh).

VERSION  := 0.1.0
CC       ?= gcc
BUILD    ?= build
SANITIZE ?=
SECCOMP_DEBUG ?=

CFLAGS_COMMON := -std=c11 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation \
	-g -I. -DHELMDECK_VERSION=\"$(VERSION)\" -fstack-protector-strong -fPIE
ifeq ($(SANITIZE),1)
  CFLAGS_COMMON += -O1 -DHELMDECK_SANITIZED -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS_SAN := -fsanitize=address,undefined
else
  CFLAGS_COMMON += -O2 -D_FORTIFY_SOURCE=2
endif
ifeq ($(SECCOMP_DEBUG),1)
  CFLAGS_COMMON += -DSECCOMP_DEBUG
endif
LDFLAGS := -pie -Wl,-z,relro,-z,now $(LDFLAGS_SAN)
LIBS    := -levent -ljansson -lcrypto -lsqlite3 -lseccomp -lcap -lcurl

COMMON_SRC := common/log.c common/util.c common/b64.c common/jwt.c common/utf8.c common/glob.c common/secmem.c common/sqlutil.c
IPC_SRC    := ipc/buf.c ipc/chan.c ipc/msg.c ipc/proto.c ipc/proto_json.c
SUP_SRC    := supervisor/main.c supervisor/supervisor.c supervisor/pool.c supervisor/control.c \
	supervisor/security.c supervisor/spawn.c supervisor/confine.c supervisor/cgroup.c \
	supervisor/seccomp_policy.c supervisor/landlock.c supervisor/config.c supervisor/proctable.c \
	supervisor/workspace.c supervisor/sandbox_root.c supervisor/session.c \
	supervisor/artifact_janitor.c supervisor/route_secrets.c supervisor/netns_proxy.c \
	supervisor/git_ssh.c supervisor/git_remote.c
# the workspace packs: fs class (descriptor-relative file ops) and exec class
# (processes in a per-invocation root)
PACK_BROWSER_SRC := workers/packs/pack_error.c workers/packs/browser_packs.c workers/packs/cdp.c
PACK_WS_SRC := $(PACK_BROWSER_SRC) workers/packs/wsutil.c workers/packs/fs.c workers/packs/exec_packs.c \
	workers/packs/exec_run.c workers/packs/repo_context.c
ROLE_SRC   := workers/role.c workers/session/browser_main.c workers/api/api_main.c workers/api/routes.c workers/api/mcp.c workers/api/sessions.c workers/api/browser_rest.c workers/api/artifacts_rest.c \
	workers/store/store_main.c workers/store/auditdb.c workers/vault/vault_main.c \
	workers/worker/worker_main.c workers/packs/registry.c workers/packs/jsonschema.c \
	workers/packs/artifact.c workers/packs/testpacks.c $(PACK_WS_SRC)
CLI_SRC    := cli/helmdeck.c workers/store/auditdb.c

# the vault's credential store and the egress role (ADR 016, 017)
ROLE_SRC   += workers/vault/credstore.c workers/vault/vault_master.c workers/vault/vault_creds.c \
	workers/vault/vault_agent.c workers/vault/ssh_agent.c workers/vault/vault_inject.c \
	workers/api/vault_rest.c workers/packs/http_packs.c \
	workers/egress/egress_main.c workers/egress/egress_http.c workers/egress/egress_resolve.c workers/egress/egress_proxy.c \
	workers/egress/guard.c workers/egress/scrub.c workers/egress/placeholder.c
# MCP transports; libwebsockets and libuv are dlopen'ed by the api alone (ADR 013)
ROLE_SRC   += workers/api/mcp_http.c workers/api/mcp_stream.c workers/api/mcp_session.c workers/api/mcp_image.c workers/api/mcp_ws.c
DAEMON_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(COMMON_SRC) $(IPC_SRC) $(SUP_SRC) $(ROLE_SRC))
CLI_OBJ    := $(patsubst %.c,$(BUILD)/obj/%.o,$(COMMON_SRC) $(IPC_SRC) $(CLI_SRC))

UNIT_TESTS := t_guard t_scrub t_credstore t_sshagent t_gitremote t_b64 t_jwt t_jsonschema t_jsonschema_suite t_auditdb t_ipc t_sup_table t_utf8 t_exec t_fs t_browser
UNIT_BINS  := $(addprefix $(BUILD)/tests/,$(UNIT_TESTS))
t_b64_SRC              := common/b64.c
t_guard_SRC            := workers/egress/guard.c common/glob.c common/util.c common/log.c
t_scrub_SRC            := workers/egress/scrub.c workers/egress/placeholder.c common/b64.c common/util.c common/log.c
t_gitremote_SRC        := supervisor/git_remote.c workers/egress/guard.c common/glob.c common/util.c common/log.c
t_sshagent_SRC         := workers/vault/ssh_agent.c common/b64.c common/util.c common/log.c
t_credstore_SRC        := workers/vault/credstore.c common/sqlutil.c common/secmem.c common/glob.c common/util.c common/log.c common/b64.c
t_utf8_SRC             := common/utf8.c common/util.c common/log.c
t_browser_SRC          := workers/packs/pack_error.c workers/packs/browser_packs.c workers/packs/cdp.c workers/packs/artifact.c workers/packs/jsonschema.c \
	supervisor/seccomp_policy.c supervisor/landlock.c common/util.c common/log.c common/b64.c
t_fs_SRC               := workers/packs/pack_error.c workers/packs/fs.c workers/packs/wsutil.c workers/packs/jsonschema.c \
	supervisor/seccomp_policy.c supervisor/landlock.c common/util.c common/log.c common/utf8.c common/b64.c
t_exec_SRC             := workers/packs/pack_error.c workers/packs/exec_packs.c workers/packs/exec_run.c workers/packs/repo_context.c \
	workers/packs/wsutil.c workers/packs/jsonschema.c common/util.c common/log.c common/utf8.c
t_jwt_SRC              := common/jwt.c common/b64.c common/util.c common/log.c
t_jsonschema_SRC       := workers/packs/jsonschema.c
t_jsonschema_suite_SRC := workers/packs/jsonschema.c
t_auditdb_SRC          := workers/store/auditdb.c common/sqlutil.c common/utf8.c common/util.c common/log.c
t_ipc_SRC              := $(IPC_SRC) common/log.c common/util.c
t_sup_table_SRC        := $(filter-out supervisor/main.c,$(COMMON_SRC) $(IPC_SRC) $(SUP_SRC) $(ROLE_SRC))
t_seccomp_policy_SRC   := supervisor/seccomp_policy.c common/log.c common/util.c

BINS := bin/helmdeckd bin/helmdeck
ifneq ($(BUILD),build)
  BINS := $(BUILD)/bin/helmdeckd $(BUILD)/bin/helmdeck
endif
ifneq ($(wildcard bridge/helmdeck-mcp.c),)
  BINS += $(dir $(firstword $(BINS)))helmdeck-mcp
endif

.PHONY: all deps run test check bench fuzz clean unit integration

all: $(BINS) $(UNIT_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -MMD -MP -c -o $@ $<

-include $(DAEMON_OBJ:.o=.d) $(CLI_OBJ:.o=.d)

bin/helmdeckd $(BUILD)/bin/helmdeckd: $(DAEMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

bin/helmdeck $(BUILD)/bin/helmdeck: $(CLI_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# the stdio bridge: no privileges, nothing but libcurl and jansson
bin/helmdeck-mcp $(BUILD)/bin/helmdeck-mcp: bridge/helmdeck-mcp.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(LDFLAGS) -o $@ $< -lcurl -ljansson

.SECONDEXPANSION:
$(BUILD)/tests/%: tests/unit/%.c $$(patsubst %.c,$(BUILD)/obj/%.o,$$($$*_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(LDFLAGS) -o $@ $^ $(LIBS)

deps:
	@scripts/deps.sh

# HELMDECK_* variables from the environment win over these embedded defaults.
run: deps all
	@HELMDECK_STATE_DIR=$${HELMDECK_STATE_DIR:-$(CURDIR)/var} scripts/run.sh

unit: all
	prove -v --timer $(UNIT_BINS)

integration: all
	HELMDECK_BIN_DIR=$(CURDIR)/$(dir $(firstword $(BINS))) HELMDECK_POLICY_DIR=$(CURDIR)/policy \
		prove -v --timer tests/integration/*.t

test:
	@scripts/deps.sh --test
	$(MAKE) all
	$(MAKE) unit integration
	$(MAKE) check

# Everything again under ASan/UBSan in a separate build tree.
check: deps
	$(MAKE) BUILD=build-asan SANITIZE=1 all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 prove --timer $(patsubst $(BUILD)/%,build-asan/%,$(UNIT_BINS))
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		HELMDECK_BIN_DIR=$(CURDIR)/build-asan/bin HELMDECK_POLICY_DIR=$(CURDIR)/policy HELMDECK_SANITIZED=1 \
		prove --timer tests/integration/*.t

bench: deps all
	bench/dispatch/run.sh
	bench/code/run.sh
	bench/browser/run.sh
	bench/mcp/run.sh
	bench/egress/run.sh

fuzz: deps
	@mkdir -p $(BUILD)/fuzz
	clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -I. -DHELMDECK_VERSION=\"$(VERSION)\" \
		-o $(BUILD)/fuzz/fuzz_frame tests/fuzz/fuzz_frame.c $(IPC_SRC) common/log.c common/util.c -levent_core
	@mkdir -p $(BUILD)/fuzz/corpus && cp tests/fuzz/corpus_frame/* $(BUILD)/fuzz/corpus/
	$(BUILD)/fuzz/fuzz_frame -max_total_time=$${FUZZ_SECONDS:-60} -max_len=4096 $(BUILD)/fuzz/corpus

clean:
	rm -rf build build-asan bin
