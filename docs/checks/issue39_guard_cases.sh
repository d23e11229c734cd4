#!/usr/bin/env bash
# Issue 39's cases as a new user meets them: run in checkout $1 (its code), workspace $2.
set -u
SRC=$1; W=$2; PY=${PY:-$(pwd)/.venv/bin/python}  # run from the project root
export WORKOUT_BENCH_CACHE_DIR=$W/cache WORKOUT_BENCH_STATE_DIR=$W/state WORKOUT_BENCH_PROGRESS=0
rm -rf $W; mkdir -p $W; cd $SRC
wb() { timeout 600 $PY -m benchmark "$@"; }
D=$W/D
$PY - <<PYEOF
import sys; sys.path.insert(0, "$SRC")
from benchmark.data.demo import generate_demo_data
generate_demo_data("$W/tiny", "tiny", seed=7)
import shutil
for c in ("plank", "squat", "pull up"): shutil.copytree("$W/tiny/" + c, "$D/" + c)
shutil.rmtree("$W/tiny")
PYEOF
sum() { find "$D" -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12; }
case_() { local name=$1; shift; local before=$(sum); local t0=$(date +%s.%N); "$@" > $W/out.txt 2> $W/err.txt; local rc=$?
  local t1=$(date +%s.%N); local after=$(sum)
  printf '%-34s rc=%s data_changed=%s %5.1fs | %s\n' "$name" $rc $([ "$before" = "$after" ] && echo no || echo YES) $(echo "$t1 - $t0" | bc) "$(tail -1 $W/err.txt | cut -c1-150)"; }
wb fit --data $D --out $W/M --model CustomCNN --set CustomCNN.input_sizes=[32] --set CustomCNN.max_epochs=1 >/dev/null 2>&1
mkdir -p $W/runs/a && echo "{\"data_dir\": \"$D\"}" > $W/runs/a/config.json; cp -r $W/runs/a $W/runs/b
P1=$(ls $D/squat/*.jpg | head -1); P2=$(ls $D/plank/*.jpg | head -1)
case_ "1 splits --out photo" wb splits --data $D --strategy grouped --folds 2 --out $P1
case_ "1 predict --csv photo" wb predict --model-dir $W/M $D/plank --csv $P2
case_ "1 compare --out/--json photos" wb compare $W/runs/a $W/runs/b --out $(ls $D/squat/*.jpg | sed -n 2p) --json $(ls $D/squat/*.jpg | sed -n 3p)
wb demo-data --out $W/demo --scale tiny --seed 1 >/dev/null 2>&1; mkdir -p "$W/demo/my class"; echo me > "$W/demo/my class/mine.jpg"; echo n > $W/demo/squat/notes.txt
case_ "2 demo-data over user files" wb demo-data --out $W/demo --scale tiny --seed 2
echo "  user files kept: $(ls "$W/demo/my class/mine.jpg" $W/demo/squat/notes.txt 2>/dev/null | wc -l) of 2"
case_ "4 --set cache_dir=DATA" wb run --data $D --folds 2 --trials 0 --models CustomCNN --strategies grouped --set audit_in_run=false --set cache_dir=$D --set CustomCNN.input_sizes=[32] --set CustomCNN.max_epochs=1 --out $W/runs4
echo "  files in data now: $(find $D -type f | wc -l)"
case_ "5 --run-id ../escape" wb run --data $D --out $W/runs5 --run-id ../escape --trials 0 --models CustomCNN --folds 2 --strategies grouped --set audit_in_run=false --set CustomCNN.input_sizes=[32] --set CustomCNN.max_epochs=1
echo "  escaped folder exists: $([ -e $W/escape ] && echo YES || echo no)"
case_ "5 --out /" timeout 60 $PY -m benchmark run --data $D --out / --run-id zz-t39 --trials 0 --models CustomCNN --folds 2 --strategies grouped --set audit_in_run=false
echo "  /zz-t39 exists: $([ -e /zz-t39 ] && echo YES || echo no)"; rm -rf /zz-t39
case_ "6 --seed -1" wb splits --data $D --strategy grouped --seed -1 --out $W/s.csv
case_ "6 --seed 99999999999" wb splits --data $D --strategy grouped --seed 99999999999 --out $W/s2.csv
cp -r $W/M $W/M5; $PY -c "import json,sys; p='$W/M5/meta.json'; m=json.load(open(p)); m['class_names']=5; json.dump(m,open(p,'w'))"
case_ "6 meta.json class_names=5" wb predict --model-dir $W/M5 $P1
cp -r $W/M $W/Mcut; head -c 3000 $W/M/model.keras > $W/Mcut/model.keras
case_ "6 truncated model.keras" wb predict --model-dir $W/Mcut $P1
$PY -c "
import struct, zlib
ihdr = struct.pack('>IIBBBBB', 20000, 20000, 8, 2, 0, 0, 0); c = b'IHDR' + ihdr; i = b'IDAT' + zlib.compress(b'\0' * 64)
open('$D/squat/poster_100001.png', 'wb').write(b'\x89PNG\r\n\x1a\n' + struct.pack('>I', 13) + c + struct.pack('>I', zlib.crc32(c)) + struct.pack('>I', len(i) - 4) + i + struct.pack('>I', zlib.crc32(i)) + struct.pack('>I', 0) + b'IEND' + struct.pack('>I', zlib.crc32(b'IEND')))"
case_ "8 20000x20000 PNG header" wb scan --data $D
echo "  DecompressionBombWarning printed: $(grep -c DecompressionBomb $W/err.txt)"; rm $D/squat/poster_100001.png
case_ "9 --models X X (config)" $PY -c "from config import Config; print(Config(models=('CustomCNN','CustomCNN')).models)"
echo "  $(cat $W/out.txt)"
echo "  fit meta data_dir: $($PY -c "import json; print(json.load(open('$W/M/meta.json'))['config']['data_dir'])")"
case_ "10 fit --out over a photo" wb fit --data $D --out $P1
