/**
 * CPU and memory of processes from /proc (Linux): utime+stime of a pid in seconds, VmRSS/VmHWM,
 * and the machine-wide busy time, so a run can tell how much CPU went to processes other than the
 * server and the load generator (a busy machine makes a run worthless; the bench reruns it).
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second for /proc/<pid>/stat; 100 on every Linux this runs on (getconf CLK_TCK). */
const CLK_TCK = 100;

/** CPU seconds (user + system, all threads) used so far by `pid`; NaN if it is gone. */
export function cpuSeconds(pid: number | 'self'): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK; // fields 14 and 15 of stat(5)
  } catch {
    return NaN;
  }
}

/** Resident set size and its peak, in KiB; NaN if the process is gone. */
export function memoryKb(pid: number | 'self'): { rss: number; hwm: number } {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? NaN);
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? NaN);
    return { rss, hwm };
  } catch {
    return { rss: NaN, hwm: NaN };
  }
}

/** Machine-wide CPU seconds spent in user+nice+system (process context), and softirq+irq separately. */
export function machineCpu(): { busy: number; irq: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [, user, nice, system, , , irq, softirq] = line.trim().split(/\s+/).map(Number);
  return { busy: (user! + nice! + system!) / CLK_TCK, irq: (irq! + softirq!) / CLK_TCK };
}

/** A CPU snapshot of the server, the load generator and the whole machine. */
export interface CpuSnap {
  at: number;
  server: number;
  self: number;
  machine: { busy: number; irq: number };
}

/** `serverPid` may be several processes (a cluster's instances): their CPU is summed. */
export function snapCpu(serverPid: number | number[]): CpuSnap {
  const server = Array.isArray(serverPid) ? serverPid.reduce((s, p) => s + cpuSeconds(p), 0) : cpuSeconds(serverPid);
  return { at: performance.now(), server, self: cpuSeconds('self'), machine: machineCpu() };
}

/** Summed RSS and peak of several processes, in KiB. */
export function memoryKbSum(pids: number[]): { rss: number; hwm: number } {
  return pids.map(memoryKb).reduce((s, m) => ({ rss: s.rss + m.rss, hwm: s.hwm + m.hwm }), { rss: 0, hwm: 0 });
}

/** CPU used between two snapshots: server, load generator, other processes, and interrupts. */
export function cpuDelta(a: CpuSnap, b: CpuSnap): { wallSec: number; serverSec: number; loadgenSec: number; otherSec: number; irqSec: number } {
  const serverSec = b.server - a.server;
  const loadgenSec = b.self - a.self;
  return {
    wallSec: (b.at - a.at) / 1000,
    serverSec,
    loadgenSec,
    otherSec: Math.max(0, b.machine.busy - a.machine.busy - serverSec - loadgenSec),
    irqSec: b.machine.irq - a.machine.irq,
  };
}
