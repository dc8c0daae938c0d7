"""The lrp CLI on mutated copies of real input files.

Truncates, overwrites, splices and plants huge varints in the shipped model and portraits,
the ONNX node test models, the fuzz seeds and (when ../shared is beside the checkout) a
quarter of the paper's prototxts, then runs `lrp info/forward/explain` on each mutant. Every
run must exit 0 (the mutant still is a valid file) or exit 1 with exactly one stderr line
`lrp: error: ...` (warnings about a model that did load may come first), within 60 s.
Prints the counts and every offender; exits 1 if there is one.

    cargo build --release --bin lrp && python3 fuzz/cli_mutants.py
"""
import os, random, subprocess, sys, glob, collections, tempfile, shutil
R = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LRP = os.environ.get("LRP_BIN", os.path.join(R, "target", "release", "lrp"))
rng = random.Random(1234)
work = tempfile.mkdtemp(prefix="climut-")
def mutants(data, k):
    out = []
    for _ in range(k):
        m = rng.randrange(4)
        b = bytearray(data)
        if m == 0 and len(b) > 1:
            b = b[: rng.randrange(1, len(b))]
        elif m == 1:
            for _ in range(rng.choice([1, 2, 8, 32])):
                if b: b[rng.randrange(len(b))] = rng.randrange(256)
        elif m == 2 and len(b) > 8:
            i = rng.randrange(len(b)); j = rng.randrange(len(b))
            b = b[:i] + b[j:j + rng.randrange(1, 64)] + b[i:]
        else:
            # varint-ish huge lengths
            if b: 
                i = rng.randrange(len(b)); b[i:i+5] = b'\xff\xff\xff\xff\x0f'
        out.append(bytes(b))
    return out
cases = []  # (kind, path of original, args template with {F})
onnx = [f"{R}/assets/gender-v1.onnx"] + sorted(glob.glob(f"{R}/tests/data/onnx_node/*/model.onnx"))[::6]
proto = glob.glob(f"{R}/fuzz/seeds/prototxt/*") + sorted(glob.glob(os.path.join(R, "..", "shared", "caffe", "**", "*.prototxt"), recursive=True))[::4]
tiny_p = f"{R}/fuzz/seeds/prototxt/tiny.prototxt"
tiny_w = f"{R}/fuzz/seeds/caffemodel/tiny.caffemodel"
plan = []
for f in onnx:
    plan.append((f, 40, [["info", "{F}"], ["forward", "--model", "{F}"]]))
for f in proto:
    plan.append((f, 30, [["info", "{F}"]]))
plan.append((tiny_w, 300, [["forward", "--model", tiny_p, "--weights", "{F}"]]))
for f in glob.glob(f"{R}/fuzz/seeds/binaryproto/*"):
    plan.append((f, 200, [["forward", "--model", tiny_p, "--weights", tiny_w, "--mean", "{F}"]]))
for f in [f"{R}/assets/grace_hopper.jpg", f"{R}/assets/astronaut.png"]:
    plan.append((f, 150, [["explain", "--image", "{F}", "--preset", "epsilon", "--out", work + "/o"]]))
stats = collections.Counter(); bad = []
for orig, k, cmds in plan:
    ext = os.path.splitext(orig)[1]
    data = open(orig, "rb").read()
    for m in mutants(data, k):
        p = f"{work}/m{stats['files']}{ext}"; stats["files"] += 1
        open(p, "wb").write(m)
        for c in cmds:
            args = [a.replace("{F}", p) for a in c]
            try:
                o = subprocess.run([LRP] + args, capture_output=True, timeout=60, cwd=work, env={**os.environ, "RUST_BACKTRACE": "1"})
            except subprocess.TimeoutExpired:
                bad.append(("timeout", orig, args)); continue
            stats["runs"] += 1
            err = o.stderr.decode("utf8", "replace")
            lines = [l for l in err.splitlines() if not l.startswith("lrp: warning:")]
            if o.returncode == 0:
                stats["ok"] += 1
            elif o.returncode == 1 and len(lines) == 1 and lines[0].startswith("lrp: error: ") and "panicked" not in err:
                stats["error"] += 1
            else:
                bad.append((o.returncode, orig, args, err[:600]))
print(dict(stats)); print(len(bad), "offenders")
for b in bad[:20]: print(b)
shutil.rmtree(work)
sys.exit(1 if bad else 0)
