#!/bin/sh
# Lay the project's Asterisk configuration over the package defaults, then start Asterisk.
#
# Every *.conf in /etc/asterisk/screener (the asterisk-config/ directory, mounted
# read-only) replaces the file of the same name in /etc/asterisk. The literal text
# ${ARI_PASSWORD} in those files is replaced with the ARI_PASSWORD environment variable,
# so the password lives only in .env.
set -eu

SRC=/etc/asterisk/screener
DST=/etc/asterisk

substitute() {
  awk -v tok='${ARI_PASSWORD}' '
    {
      line = $0; out = ""
      while ((i = index(line, tok)) > 0) {
        out = out substr(line, 1, i - 1) ENVIRON["ARI_PASSWORD"]
        line = substr(line, i + length(tok))
      }
      print out line
    }' "$1"
}

if [ -d "$SRC" ]; then
  for file in "$SRC"/*.conf; do
    [ -e "$file" ] || continue
    name=$(basename "$file")
    substitute "$file" > "$DST/$name.tmp"
    chmod 0640 "$DST/$name.tmp"
    chown root:asterisk "$DST/$name.tmp"
    mv "$DST/$name.tmp" "$DST/$name"
  done
fi

chown -R asterisk:asterisk /var/spool/asterisk/recording
exec "$@"
