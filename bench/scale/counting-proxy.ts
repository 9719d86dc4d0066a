/**
 * An HTTP proxy on loopback in front of one Consul agent that counts, per client process, the
 * requests it forwards and the bytes it hands back: the Consul traffic of one handler run. The
 * client's process is found from its socket (/proc/net/tcp and /proc/PID/fd), so workers a handler
 * starts, which use the same config and so the same proxy, are not counted as the handler's.
 * Each client connection gets exactly one upstream connection, and an upstream failure cuts the
 * client's connection: Consul sees the connections the client opens (its per-client limit
 * applies as it would), and the client sees what it would see without the proxy.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
import type { Socket } from 'node:net';

interface Connection {
  readonly socket: Socket;
  readonly agent: Agent;
  owner: number | undefined;
  requests: number;
}

export interface Traffic {
  readonly requests: number;
  readonly bytes: number;
}

export class CountingProxy {
  private readonly connections: Connection[] = [];
  private tracked: number | undefined;
  private server: Server | undefined;
  port = 0;

  constructor(private readonly upstream: URL) {}

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const connection = this.connections.find((c) => c.socket === req.socket);
      if (connection) {
        connection.owner ??= this.ownerOf(req.socket);
        connection.requests++;
      }
      const forward = request({ host: this.upstream.hostname, port: this.upstream.port, method: req.method, path: req.url, headers: req.headers, ...(connection ? { agent: connection.agent } : {}) }, (upstream) => {
        res.writeHead(upstream.statusCode ?? 502, upstream.headers);
        upstream.pipe(res);
      });
      forward.on('error', () => req.socket.destroy());
      req.pipe(forward);
    });
    server.keepAliveTimeout = 60_000;
    server.on('connection', (socket) => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      socket.once('close', () => agent.destroy());
      this.connections.push({ socket, agent, owner: this.ownerOf(socket), requests: 0 });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** From now on, count the connections of this process; forget earlier ones. */
  track(pid: number): void {
    this.tracked = pid;
    this.connections.splice(0, this.connections.length, ...this.connections.filter((c) => !c.socket.destroyed));
    for (const c of this.connections) c.owner = undefined;
  }

  /** What the tracked process sent and was sent back so far. */
  traffic(): Traffic {
    let requests = 0;
    let bytes = 0;
    for (const c of this.connections) {
      if (c.owner !== this.tracked || this.tracked === undefined) continue;
      requests += c.requests;
      bytes += c.socket.bytesWritten;
    }
    return { requests, bytes };
  }

  /** The tracked process, if it owns the client end of this socket (else undefined). */
  private ownerOf(socket: Socket): number | undefined {
    const pid = this.tracked;
    if (pid === undefined || socket.remotePort === undefined) return undefined;
    const inode = socketInode(socket.remotePort, this.port);
    if (inode === undefined) return undefined;
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return pid;
        } catch {
          // Closed meanwhile.
        }
      }
    } catch {
      // The process is gone.
    }
    return undefined;
  }

  async stop(): Promise<void> {
    for (const c of this.connections) {
      c.socket.destroy();
      c.agent.destroy();
    }
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** The inode of the loopback TCP socket from localPort to remotePort (the client's end). */
function socketInode(localPort: number, remotePort: number): string | undefined {
  const local = `0100007F:${localPort.toString(16).toUpperCase().padStart(4, '0')}`;
  const remote = `0100007F:${remotePort.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === local && fields[2] === remote) return fields[9];
  }
  return undefined;
}
