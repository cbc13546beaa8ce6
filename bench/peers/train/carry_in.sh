#!/bin/bash
# Puts a run folder returned by run_segment.sh (the parts NAME.tar.00, .01, ...
# under FILES_AT) into .carry/runs/NAME, replacing an older copy, for the next
# segment's command to carry (carry: [".carry"]).
#
#   bench/peers/train/carry_in.sh NAME FILES_AT
set -eu
name=$1 from=$2
ls "$from/$name".tar.* > /dev/null
mkdir -p .carry/runs
rm -rf ".carry/runs/$name"
cat "$from/$name".tar.* | tar xf - -C .carry/runs
chmod -R u+w ".carry/runs/$name"
echo "carry_in: .carry/runs/$name at step $(python3 "$(dirname "$0")/checkpoint_step.py" ".carry/runs/$name") ($(du -sh ".carry/runs/$name" | cut -f1))"
