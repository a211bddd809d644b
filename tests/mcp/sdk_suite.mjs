// The official MCP TypeScript SDK against helmdeck over one transport,
// named by argv[2]:
//   http   streamable HTTP (POST /api/v1/mcp; tools/call answers as SSE)
//   sse    the legacy HTTP+SSE pair (SSEClientTransport, GET /api/v1/mcp/sse)
//   ws     WebSocket (WebSocketClientTransport, /api/v1/mcp/ws?access_token=;
//          Node 20 has no global WebSocket, so the `ws` package stands in)
//   stdio  bin/helmdeck-mcp ($HD_BRIDGE) through StdioClientTransport
// Each lists the tools, checks a schema, calls a pack, gets an inline image
// and a typed error, and cancels a slow call (through helmdeck-mcp too), then looks in
// /api/v1/security that the worker that ran it is gone and replaced.
// Prints one JSON line of what it saw; 76_mcp_transports.t checks it.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";

const kind = process.argv[2];
const base = process.env.HD_URL;
const token = process.env.TOKEN;
const auth = { Authorization: "Bearer " + token };
const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
const out = { kind };

async function transportFor(k) {
	if (k === "http") {
		const { StreamableHTTPClientTransport } = await import("@modelcontextprotocol/sdk/client/streamableHttp.js");
		return new StreamableHTTPClientTransport(new URL(base + "/api/v1/mcp"), { requestInit: { headers: auth } });
	}
	if (k === "sse") {
		const { SSEClientTransport } = await import("@modelcontextprotocol/sdk/client/sse.js");
		return new SSEClientTransport(new URL(base + "/api/v1/mcp/sse"), { requestInit: { headers: auth } });
	}
	if (k === "ws") {
		globalThis.WebSocket ??= (await import("ws")).default;
		const { WebSocketClientTransport } = await import("@modelcontextprotocol/sdk/client/websocket.js");
		return new WebSocketClientTransport(new URL(base.replace(/^http/, "ws") + "/api/v1/mcp/ws?access_token=" + token));
	}
	if (k === "stdio") {
		const { StdioClientTransport } = await import("@modelcontextprotocol/sdk/client/stdio.js");
		return new StdioClientTransport({ command: process.env.HD_BRIDGE, args: [], env: { HELMDECK_URL: base, HELMDECK_TOKEN: token } });
	}
	throw new Error("unknown transport " + k);
}

async function rest(path) {
	const r = await fetch(base + path, { headers: auth });
	return r.json();
}
const testWorkers = async () =>
	(await rest("/api/v1/security")).processes.filter(p => p.role === "worker" && p.class === "test" && p.running).map(p => p.pid);
const sleep = ms => new Promise(r => setTimeout(r, ms));

const transport = await transportFor(kind);
const client = new Client({ name: "helmdeck-test-" + kind, version: "1.0.0" });
await client.connect(transport);
out.server = client.getServerVersion()?.name;

const tools = await client.listTools();
out.tools = tools.tools.map(t => t.name);
out.put_required = tools.tools.find(t => t.name === "artifact.put")?.inputSchema?.required;

const ok = await client.callTool({ name: "artifact.put", arguments: { name: kind + ".txt", content: "over " + kind } });
out.ok_isError = ok.isError ?? false;
out.ok_key = ok.structuredContent?.key;

const img = await client.callTool({ name: "artifact.put", arguments: { name: "dot.png", content_base64: PNG, content_type: "image/png" } });
const block = img.content?.find(c => c.type === "image");
out.image = block ? { mimeType: block.mimeType, same: block.data === PNG } : null;

const bad = await client.callTool({ name: "artifact.put", arguments: { content: "x" } });
out.bad_isError = bad.isError;
out.bad_error = JSON.parse(bad.content?.[0]?.text ?? "{}").error;

{
	// a slow call: wait for its first progress notification, then give up on it
	const before = await testWorkers();
	const ac = new AbortController();
	let progress = 0;
	const t0 = Date.now();
	const slow = client.callTool({ name: "test.sleep", arguments: { ms: 20000 }, _meta: { "helmdeck/version": 1 } }, undefined,
		{ signal: ac.signal, onprogress: () => { progress++; } });
	for (let i = 0; i < 60 && !progress; i++)
		await sleep(100);
	out.progress = progress;
	ac.abort("the test gives up");
	out.cancel = await slow.then(() => "completed", () => "rejected");
	let after = before;
	for (let i = 0; i < 50; i++) {
		after = await testWorkers();
		if (before.some(p => !after.includes(p)) && after.length >= before.length)
			break;
		await sleep(100);
	}
	out.worker_gone = before.some(p => !after.includes(p));
	out.worker_replaced = after.some(p => !before.includes(p));
	out.cancel_ms = Date.now() - t0;
	await sleep(200);
	const audit = await rest("/api/v1/audit?event_type=pack_call&limit=20");
	out.audit_cancelled = audit.events.some(e => e.pack === "test.sleep" && e.outcome === "cancelled" && e.ts_ms >= t0);
}

await client.ping();
out.ping = true;
await transport.terminateSession?.();
await client.close();
console.log(JSON.stringify(out));
process.exit(0);
