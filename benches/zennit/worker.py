"""The Rust side of the benchmarks in this folder: examples/side_by_side.rs over a pipe."""

import os
import subprocess


class Worker:
    """The Rust side: examples/side_by_side.rs over a pipe."""

    def __init__(self, exe, threads):
        env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
        self.p = subprocess.Popen([exe], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def __call__(self, *args):
        self.p.stdin.write(" ".join(str(a) for a in args) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline().strip()
        if not line.startswith("ok"):
            raise RuntimeError(f"worker: {' '.join(map(str, args))}: {line}")
        return line[2:].strip()

    def close(self):
        self.p.stdin.write("quit\n")
        self.p.stdin.flush()
        self.p.wait()
