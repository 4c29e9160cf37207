#!/usr/bin/env bash
# Regenerates docs/CLI.md from the current build: every command below is run and its real output pasted.
# Usage: scripts/cli-docs.sh [path/to/spikeclip]   (default: .build/release/spikeclip; build it first)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-.build/release/spikeclip}
OUT=docs/CLI.md
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
printf '%s\n' "t-shirt" "trousers" "sweater" "dress" "coat" "sandal" "shirt" "sneaker" "handbag" "ankle boot" "+sock" "+hat" > "$WORK/classes.txt"

show() {  # show "description" args...
  local text=$1; shift
  local shown="" a
  for a in "$@"; do
    if [[ "$a" =~ [[:space:]\{\}\$\"] ]]; then shown+=" \"$a\""; else shown+=" $a"; fi
  done
  [ -n "$text" ] && printf '%s\n\n' "$text"
  printf '```console\n$ spikeclip%s\n' "$shown"
  local status=0
  (cd "$WORK/run" && "$ROOT/$BIN" "$@") > "$WORK/out" 2>&1 || status=$?
  sed -e "s#$WORK#/tmp/work#g" "$WORK/out"
  [ "$status" -ne 0 ] && printf '$ echo $?\n%s\n' "$status"
  printf '```\n\n'
}
ROOT=$PWD
mkdir -p "$WORK/run"
# Run from a scratch copy of the paths the commands use, so relative paths in the output read as in the repository.
ln -s "$ROOT/assets" "$WORK/run/assets"; mkdir -p "$WORK/run/Tests/Fixtures"
ln -s "$ROOT/Tests/Fixtures/tiny-default" "$WORK/run/Tests/Fixtures/tiny-default"
ln -s "$ROOT/Tests/Fixtures/clip" "$WORK/run/Tests/Fixtures/clip"
cp "$WORK/classes.txt" "$WORK/run/classes.txt"

{
cat <<'HEAD'
# The `spikeclip` command line

Every scripted subcommand prints a readable report, or JSON with `--json` (snake_case keys, sorted; the same numbers).
Exit codes: **0** ok (also `--help`); **2** usage error, anything wrong on the command line itself, found before a
file is read (unknown option or subcommand, malformed or empty value, `--image` given for a text layer); **1** runtime
error, anything that depends on a file (missing or unreadable file, corrupt checkpoint, a layer name or token-id prompt
that this checkpoint does not have, refusing to overwrite). Errors are one line `error: ...` on stderr.

`--checkpoint` defaults to the trained default `assets/checkpoints/default.safetensors` (training/RESULTS.md); if it
is missing, to the random-weight parity fixture `Tests/Fixtures/tiny-default/model.safetensors` (its scores mean
nothing; its tokenizer kind is `ids`, so prompts are whitespace-separated token ids). With a `bert-wordpiece`
checkpoint, prompts are text, the vocabulary is found next to the checkpoint, one folder up or in `--assets`, and the
ANN side of `classify` and `eval` uses the MiniLM text model the checkpoint names (on the same `L` tokens the spiking
text encoder sees, as the Python `evaluate` does). Without an ANN text model the ANN twin's image embedding is scored against the spiking text
embeddings, and the output says so (`ann_text_encoder: "spiking"`).

All output below was produced by the current build (`scripts/cli-docs.sh` regenerates this page).

HEAD
echo '## classify'; echo
show "Spiking model and ANN twin side by side: cosine and probability per class, top-1 each, energy per image." \
  classify --image assets/images/bag_0018.png assets/images/trouser_0002.png
show "Own class prompts and templates; JSON:" \
  classify --image assets/images/sneaker_0009.png --prompt "running shoe" "leather boot" "sandal" --template "a photo of a {}." --json
echo '## eval'; echo
cat <<'TEXT'
Zero-shot accuracy on Fashion-MNIST (`/usr/share/datasets/fashion-mnist`, `--data-dir` to move it), top-1/top-5 for
both models, agreement, confusion matrix (rows: true label, columns: predicted class), mean energy per image in both
conventions, mean firing rate per LIF layer and throughput. Images go through the engine in batches (`--batch-size`,
default 100) on `--threads` workers (default: all cores) with the event kernels (`--kernels blas|reference` to compare). A progress bar is drawn on
stderr only when stderr is a terminal.

`--classes-file`: one class per line, in label order (line i is label i; `#` lines and blank lines are ignored).
Plain lines **replace** the class names; lines starting with `+` **extend** the list with distractor classes that
only compete (`+sock`); a file of only `+` lines extends the checkpoint's classes. Label i is correct iff the arg-max
is class i. `--templates-file`: one template with `{}` per line. A token-id checkpoint has no class names, so it
needs a classes file. The whole test set with the default checkpoint:

TEXT
show "" eval
printf 'Synonyms for the class names plus two distractors, first 1000 test images:\n\n'
printf '```console\n$ cat classes.txt\n'; cat "$WORK/classes.txt"; printf '```\n\n'
show "" eval --classes-file classes.txt --limit 1000
cat <<'TEXT'
Other data sets: `--dataset cifar10` / `cifar100` read the binary distributions (`cifar-10-batches-bin`:
`test_batch.bin`, `data_batch_1..5.bin`; `cifar-100-binary`: `test.bin`, `train.bin`) from `--data-dir` (the folder
or its parent), with the data sets' own class names and CLIP's 18 CIFAR templates by default; the pickled Python
download converts to that layout, running no pickle code, with
`PYTHONPATH=training python -m spikeclip_training.cifar_convert --src cifar-10-batches-py --out DIR`.
`--dataset folder --data-dir DIR` reads the ImageFolder layout (one sub-folder per class, sorted; `_` in a folder
name reads as a space). Here a folder of two classes made from the demo images:

TEXT
mkdir -p "$WORK/run/folder/ankle_boot" "$WORK/run/folder/bag"
cp "$ROOT"/assets/images/ankle-boot_*.png "$WORK/run/folder/ankle_boot/"; cp "$ROOT"/assets/images/bag_*.png "$WORK/run/folder/bag/"
show "" eval --dataset folder --data-dir folder
echo '## sweep and interventions'; echo
show "Accuracy, SNN-ANN agreement and energy per image against the time steps run (the T = 4 row is \`eval\` on the same images), with a terminal plot; \`--out DIR\` writes CSV, PNG and SVG:" \
  sweep --over T --images 500
show "Each spiking layer silenced alone (the lesion table):" sweep --over silence --images 200 --values vision.patch_embed.block4_lif vision.block.0.attn.q_lif vision.block.0.mlp.mlp1_lif text.mlp_lif2
show "\`classify\` and \`eval\` take the same interventions (\`--silence\`, \`--threshold-scale\`, \`--steps\`, or a JSON set with \`--interventions\`):" \
  classify --image assets/images/bag_0018.png --prompt bag --prompt sneaker --silence vision.block.0.mlp.mlp1_lif --steps 3
echo '## raster'; echo
show "A titled raster (time step across, neuron down, firing-rate sidebar) as PNG (through libpng), SVG or text. The file is written atomically (temporary file in the same folder, then rename) and never replaces an existing file without \`--force\`." \
  raster --image assets/images/bag_0018.png --layer vision.block.0.attn.q_lif --out raster.png --max-neurons 96
show "Refusing to overwrite:" raster --image assets/images/bag_0018.png --layer vision.block.0.attn.q_lif --out raster.png
show "Text output reuses the explorer's raster renderer:" \
  raster --image assets/images/bag_0018.png --layer vision.block.0.attn.attn_lif --out raster.txt --max-neurons 24 --first-neuron 40
printf '```console\n$ cat raster.txt\n'; cat "$WORK/run/raster.txt"; printf '```\n\n'
cp "$WORK/run/raster.png" docs/cli-raster.png
printf 'The PNG above: ![raster](cli-raster.png)\n\n'
show "The text encoder's layers take a prompt instead of an image:" \
  raster --prompt "a photo of a sandal" --layer text.mlp_lif2 --out text-raster.txt --max-neurons 16 --first-neuron 8 --glyphs ascii
printf '```console\n$ cat text-raster.txt\n'; cat "$WORK/run/text-raster.txt"; printf '```\n\n'
echo '## energy'; echo
show "Per-layer operation counts and energy of one image, both conventions, spiking encoder and ANN twin:" \
  energy --image assets/images/coat_0006.png
echo '## inspect'; echo
show "" inspect assets/checkpoints/default.safetensors
echo '## tokenize'; echo
show "Ids and pieces as the spiking text encoder sees them, the count against L and what was cut:" \
  tokenize --text "a blurry low-resolution photograph of an elegant ankle boot with a zipper"
show "" tokenize --text "a photo of a sneaker." --json
show "CLIP's byte-level BPE (the vocabulary in assets/clip, or a Hugging Face folder with vocab.json + merges.txt), at SpikeCLIP's L = 20:" \
  tokenize --clip-vocab assets/clip/bpe_simple_vocab_16e6.txt.gz --context-length 20 --text "a photo of a dog's ball" "IT'S 100% café!"
echo '## embed'; echo
show "Raw (not normalised) embeddings of each model present: the spiking encoders, the ANN twin, the ANN text model; with --clip a Hugging Face CLIPModel folder as well (here the random-weight ViT-B/16-geometry fixture, image side):" \
  embed --image assets/images/coat_0006.png --text "a photo of a coat"
show "" embed --clip Tests/Fixtures/clip/vitb16-geometry --image assets/images/coat_0006.png
echo '## card'; echo
echo 'A probe card of one image against class prompts (the explorer'"'"'s `C` writes the same for what is on screen):'; echo
{
  printf '```console\n$ spikeclip card --image assets/images/coat_0006.png --prompt coat --prompt "wool coat" --prompt sandal --out /tmp/cardx\n'
  (cd "$WORK/run" && "$ROOT/$BIN" card --image assets/images/coat_0006.png --prompt coat --prompt "wool coat" --prompt sandal --out "$WORK/cardx" 2>&1) | sed -e "s#$WORK#/tmp#g"
  printf '%s\n' "\$ sed -n '/## Zero-shot/,/## Energy/p' /tmp/cardx/card.md"
  sed -n '/## Zero-shot/,/## Energy/p' "$WORK/cardx/card.md" | sed '$d' | sed '$d'
  printf '```\n\n'
}
cat <<'TEXT'
`card.json` holds every number (scores, the energy tables in both conventions with their constants, firing rates,
the checkpoint's sha256 and provenance, the image's sha256); `--layer NAME` picks the raster's layer, `--force`
replaces an earlier card folder, `--json` prints card.json.

## replay

`explore --record FILE` writes a session as JSON lines; `replay` rebuilds it and checks every frame (a session
recorded by hand, shown as it was; not regenerated by this script):

```console
$ spikeclip explore --record /tmp/demo.jsonl        # then 3 ] . Z q
$ spikeclip replay /tmp/demo.jsonl | head -3
-- event 0: start (frame as recorded)
SpikeCLIP [1 Prompts] 2  3  4  5  6  7                             ?:help q:quit
┌ Prompts  a:add e:edit d:del m:templates t:ensemble ──────────────────────────┐
$ spikeclip replay /tmp/demo.jsonl --quiet
replayed 5 of 6 events: all 5 frames identical to the record
```

Each event line: `n`, `input` (`start`, `tick`, a key name such as `]` or `enter`, `mouse:press:X:Y`), `size`,
`changed` (the state fields the input changed, e.g. `{"layer": "1"}` after `]`), `frame` and `frame_sha256`.
`--size WxH` replays at another size without comparing; a record made with another checkpoint file is refused.

TEXT
echo '## errors and exit codes'; echo
show "" classify --image assets/images/no-such.png
show "" classify --image assets/images/bag_0018.png --colour red
show "" inspect assets/images/labels.json
show "A mistyped subcommand:" clasify --image assets/images/bag_0018.png
echo '## demo and bench'; echo
echo '`spikeclip demo` runs the engine end to end on the random-weight parity fixture (scores, firing rates, energy, a'
echo 'raster): a smoke test of a build. `spikeclip bench` times the engine (p50/p95 per encoder and kernel mode, the'
echo 'tokenizer + MiniLM, explorer latencies, energy accounting) and, when PyTorch is importable, the PyTorch reference'
echo 'on the same checkpoint. `spikeclip bench --checkpoint FILE` does it on any checkpoint (no golden file): our kernels'
echo 'beside the PyTorch reference with a ratio column, each dense-equivalent rate as a fraction of the SGEMM rate measured'
echo 'right beside it (three SGEMMs before the line'"'"'s calls and three after: the machine'"'"'s speed drifts), eval throughput and'
echo 'the explorer latencies; `spikeclip bench --crossover` times the event path against dense BLAS per layer shape and'
echo 'firing rate (kinds: linear/1x1, 3x3, narrow 3x3 with at most 64 input channels). docs/PERFORMANCE.md has the'
echo 'measurements. Both take `--help`.'
} > "$OUT"
echo "wrote $OUT"
