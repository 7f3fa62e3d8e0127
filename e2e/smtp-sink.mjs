// A tiny SMTP sink for the end-to-end story: accepts every message on a free loopback port
// and appends it, as one JSON line {to, data}, to the file named by its first argument.
// Prints "listening PORT" once ready. Run (and stopped) by scripts/e2e.

import { createServer } from "node:net";
import { appendFileSync } from "node:fs";

const out = process.argv[2];
if (!out) {
  console.error("usage: node smtp-sink.mjs FILE");
  process.exit(2);
}

const server = createServer((socket) => {
  let buffer = "";
  let inData = false;
  let to = [];
  let data = "";
  const reply = (line) => socket.write(`${line}\r\n`);
  reply("220 sink.test ESMTP");
  socket.on("data", (chunk) => {
    buffer += chunk.toString("utf8");
    for (;;) {
      if (inData) {
        const end = buffer.indexOf("\r\n.\r\n");
        if (end < 0) return;
        data += buffer.slice(0, end);
        buffer = buffer.slice(end + 5);
        inData = false;
        appendFileSync(out, JSON.stringify({ to, data: data.replace(/^\.\./gm, ".") }) + "\n");
        to = [];
        data = "";
        reply("250 OK");
        continue;
      }
      const nl = buffer.indexOf("\r\n");
      if (nl < 0) return;
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 2);
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === "EHLO" || verb === "HELO") reply("250 sink.test");
      else if (verb === "MAIL" || verb === "RSET" || verb === "NOOP") reply("250 OK");
      else if (verb === "RCPT") {
        to.push(line.replace(/^RCPT TO:\s*<?([^>]*)>?.*$/i, "$1"));
        reply("250 OK");
      } else if (verb === "DATA") {
        inData = true;
        reply("354 End data with <CR><LF>.<CR><LF>");
      } else if (verb === "QUIT") {
        reply("221 Bye");
        socket.end();
        return;
      } else reply("502 Command not implemented");
    }
  });
  socket.on("error", () => {});
});

server.listen(0, "127.0.0.1", () => {
  console.log(`listening ${server.address().port}`);
});
