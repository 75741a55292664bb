#!/usr/bin/env bash
# Device driver: bash .devjobs/run.sh JOBFILE. Each line of JOBFILE is a shell command started in
# the background (its output in /tmp/st/logs/jobN.log); a line `wait` waits for those started.
# Records go wherever the commands write them (results_dir=/tmp/st/<name>); at the end /tmp/st
# is packed into $OUT/pack.tar.
set -u
# the commit the carried tree holds (written here before the call): the device's .git copy is
# the session's starting commit, so the records would otherwise name that one, dirty
[ -f .devjobs/sha ] && export SWARM_BENCH_GIT_SHA=$(cat .devjobs/sha)
mkdir -p /tmp/st/logs
nvidia-smi > /tmp/st/logs/gpu.txt 2>&1
bash .kits/install.sh > /tmp/st/logs/install.log 2>&1 || { cat /tmp/st/logs/install.log; exit 1; }
cp "$1" /tmp/st/logs/jobs.txt
n=0; start=$(date +%s)
while IFS= read -r line; do
  [ -z "$line" ] && continue
  if [ "$line" = wait ]; then wait; echo "wait done at $(( $(date +%s) - start )) s" >> /tmp/st/logs/waits.log; continue; fi
  n=$((n + 1))
  ( eval "$line" ) > /tmp/st/logs/job$n.log 2>&1 &
done < "$1"
wait
echo "all done at $(( $(date +%s) - start )) s" >> /tmp/st/logs/waits.log
tar cf "$OUT/pack.tar" --exclude='*.resume.pt' -C /tmp st  # resume files (tens of MB) stay behind
tail -n 5 /tmp/st/logs/*.log
