# bench/tls/publish.sh - sourced by run.sh and engine.sh: publish REV DIR, a Release build of REV
# ("." = this tree, $HERE) into DIR; another revision is checked out once as a worktree under $OUT.
publish() {
  local rev=$1 dir=$2 src
  [ -x "$dir/Ferry.Cli" ] && [ "$rev" != . ] && return 0
  if [ "$rev" = . ]; then src=$HERE; else
    src=$OUT/src-$rev
    [ -d "$src" ] || git -C "$HERE" worktree add --detach "$src" "$rev" >/dev/null
  fi
  (cd "$src" && dotnet publish src/Ferry.Cli -c Release -o "$dir" --nologo -v q >"$OUT/publish-$(basename "$dir").log" 2>&1) \
    || { cat "$OUT/publish-$(basename "$dir").log"; exit 1; }
}
