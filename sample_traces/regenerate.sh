#!/usr/bin/env bash
# Re-record the sample traces with the embedded demo model on the CPU (about a minute).
# Usage: sample_traces/regenerate.sh   (from anywhere, with llada-tui installed)
set -euo pipefail
cd "$(dirname "$0")"
lily="Lily can run 12 kilometers per hour for 4 hours. After that, she runs 6 kilometers per hour. How many kilometers can she run in 8 hours?"
gaga="Take the last letters of the words in “Lady Gaga” and concatenate them."
sammy="Sammy wanted to go to where the people were. Where might he go? Options: (a) race track (b) populated areas (c) the desert (d) apartment (e) roadblock"
record() { llada-tui record "$@" --device cpu --force; }
record "$lily" --block-length 16 -o lily.trace
record "$gaga" --block-length 16 -o lady-gaga.trace
record "$sammy" --block-length 16 -o sammy.trace
record "$lily" --block-length 16 --remasking random -o lily-random.trace
record "$lily" --block-length 64 -o lily-one-block.trace
# The decoding strategies beyond the reference (issue 13): trace format 2.
record "$lily" --block-length 16 --sampler threshold --threshold 0.9 -o lily-threshold.trace
record "$lily" --block-length 16 --cache dual -o lily-dual-cache.trace
record "$lily" --block-length 16 --sampler wino -o lily-wino.trace
record "Lily can run 12 kilometers per hour" --no-chat-template --block-length 16 --sampler wino -o raw-wino.trace
record "Take the last letters of the words in “Lady Gaga” and concatenate them. Lady ends in" --no-chat-template --block-length 32 --sampler wino --temperature 0.5 --seed 4 -o raw-letters-wino.trace
