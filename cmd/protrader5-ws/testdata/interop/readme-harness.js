// Loaded with `node --import` before README.md's Node.js client example,
// which runs unchanged (readme_example_test.go). It reports what the
// example does as JSON lines on stdout, and on a "reconnect" line on stdin
// closes the connection under the client (socket.io.engine.close()), as a
// network blip would.
import { Socket } from "socket.io-client";

const report = (record) => process.stdout.write(JSON.stringify(record) + "\n");
console.log = (...values) => report({ log: values });
console.error = (...values) => report({ error: values.map(String) });

const sockets = new Set();
const connect = Socket.prototype.connect;
// io() connects every socket it makes through connect(): the one place to
// see the example's socket without touching the example.
Socket.prototype.connect = function () {
  if (!sockets.has(this)) {
    sockets.add(this);
    this.on("connect", () => report({ event: "connect", recovered: this.recovered }));
    this.on("disconnect", (reason) => report({ event: "disconnect", reason }));
  }
  return connect.call(this);
};

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  input += chunk;
  for (let newline = input.indexOf("\n"); newline >= 0; newline = input.indexOf("\n")) {
    const command = input.slice(0, newline).trim();
    input = input.slice(newline + 1);
    if (command === "reconnect") {
      for (const socket of sockets) socket.io.engine.close();
    }
  }
});
// The test ends the process; stdin closing means the test is gone.
process.stdin.on("end", () => process.exit(0));
