// The official MCP TypeScript SDK against helmdeck over streamable HTTP.
// Prints one JSON line of what it saw; 70_mcp.t checks it.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
const url = new URL(process.env.HD_URL + "/api/v1/mcp");
const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers: { Authorization: "Bearer " + process.env.TOKEN } } });
const client = new Client({ name: "helmdeck-test", version: "1.0.0" });
const out = {};
await client.connect(transport);
out.server = client.getServerVersion();
out.protocol = transport.protocolVersion ?? null;
const tools = await client.listTools();
out.tools = tools.tools.map(t => t.name);
out.put_required = tools.tools.find(t => t.name === "artifact.put")?.inputSchema?.required;
const ok = await client.callTool({ name: "artifact.put", arguments: { name: "sdk.txt", content: "from the official sdk" } });
out.ok_isError = ok.isError; out.ok_key = ok.structuredContent?.key;
const bad = await client.callTool({ name: "artifact.put", arguments: { content: "x" } });
out.bad_isError = bad.isError; out.bad_text = bad.content?.[0]?.text;
await client.ping(); out.ping = true;
const res = await client.listResources(); out.resources = res.resources.map(r => r.uri);
await transport.terminateSession?.();
await client.close();
console.log(JSON.stringify(out));
