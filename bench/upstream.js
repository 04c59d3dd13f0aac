// Benchmark upstream: an OpenAI-compatible chat server in Node's http module, fast enough
// never to be the bottleneck. The upstream model name picks the delay: "bench-<ms>", e.g.
// bench-0 or bench-20; a second number sets the gap between stream chunks in ms, e.g.
// bench-0-50 (default: BENCH_CHUNK_GAP_MS, else 1), a third the number of content chunks
// (default 64). "stream": true sends the content chunks, then usage and [DONE].
// Usage: node bench/upstream.js PORT
"use strict";
const http = require("http");

const port = Number(process.argv[2] || 9400);
const CHUNKS = 64;
const WORD = "tok ";

function completion(model) {
  return JSON.stringify({
    id: "chatcmpl-bench",
    object: "chat.completion",
    created: 1700000000,
    model,
    choices: [{ index: 0, message: { role: "assistant", content: "Hello from the bench upstream." },
                finish_reason: "stop" }],
    usage: { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 },
  });
}

function chunk(model, delta, finish) {
  return "data: " + JSON.stringify({
    id: "chatcmpl-bench", object: "chat.completion.chunk", created: 1700000000, model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  }) + "\n\n";
}

const server = http.createServer((req, res) => {
  if (req.method !== "POST") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"object":"list","data":[]}');
    return;
  }
  const parts = [];
  req.on("data", (c) => parts.push(c));
  req.on("end", () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(parts).toString());
    } catch (e) {
      res.writeHead(400, { "content-type": "application/json" });
      res.end('{"error":{"message":"bad json"}}');
      return;
    }
    const model = String(body.model || "bench-0");
    const [, delayText, gapText, chunksText] = model.split("-");
    const chunks = Number(chunksText || CHUNKS);
    const delay = Number(delayText || 0);
    const answer = () => {
      if (!body.stream) {
        const text = completion(model);
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(chunk(model, { role: "assistant", content: "" }, null));
      let sent = 0;
      const gap = Number(gapText || process.env.BENCH_CHUNK_GAP_MS || 1);
      const next = () => {
        if (sent < chunks) {
          sent += 1;
          res.write(chunk(model, { content: WORD }, null));
          setTimeout(next, gap);
          return;
        }
        res.write(chunk(model, {}, "stop"));
        res.write("data: " + JSON.stringify({ id: "chatcmpl-bench", object: "chat.completion.chunk",
          created: 1700000000, model, choices: [],
          usage: { prompt_tokens: 12, completion_tokens: chunks, total_tokens: 12 + chunks } }) + "\n\n");
        res.end("data: [DONE]\n\n");
      };
      next();
    };
    if (delay > 0) setTimeout(answer, delay); else answer();
  });
});
server.keepAliveTimeout = 60000;
server.listen(port, "127.0.0.1", 4096, () => console.log(`bench upstream on ${port}`));
