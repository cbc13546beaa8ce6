# Sourced by the A/B scripts here: decompresses .carry/bins/{ssm,ssm-prev}.xz
# (stripped --features cuda builds) to .carry/{ssm,ssm-prev} and points the
# selftest at .carry/golden.
export SSM_GOLDEN_DIR=$PWD/.carry/golden
for b in ssm ssm-prev; do
  python3 -c "import lzma,sys; open(sys.argv[2],'wb').write(lzma.open(sys.argv[1]).read())" .carry/bins/$b.xz .carry/$b
  chmod +x .carry/$b
done
