#!/bin/sh
# Lay the project's Asterisk configuration over the package defaults, then start Asterisk.
#
# Every *.conf in /etc/asterisk/screener (the asterisk-config/ directory, mounted
# read-only) replaces the file of the same name in /etc/asterisk, with three changes
# for the container so that the files stay usable as they are on a plain server:
#
#   - the literal text ${ARI_PASSWORD} anywhere becomes the ARI_PASSWORD variable;
#   - in ari.conf, the password of user ARI_USERNAME (default screener) becomes
#     ARI_PASSWORD (password_format = plain), so the secret lives only in .env;
#   - in http.conf, bindaddr becomes ASTERISK_HTTP_BINDADDR when that is set (the
#     compose file sets 0.0.0.0: ARI is reachable on the compose network only,
#     its port is not published).
#
# ASTERISK_CONFIG_SRC / ASTERISK_CONFIG_DST change the directories (for tests).
set -eu

SRC=${ASTERISK_CONFIG_SRC:-/etc/asterisk/screener}
DST=${ASTERISK_CONFIG_DST:-/etc/asterisk}
ARI_USERNAME=${ARI_USERNAME:-screener}
export ARI_USERNAME

substitute_token() {
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

ari_password() {
  awk '
    /^[ \t]*\[/ {
      section = $0
      sub(/^[ \t]*\[/, "", section)
      sub(/\].*$/, "", section)
    }
    section == ENVIRON["ARI_USERNAME"] && /^[ \t]*password[ \t]*=/ {
      print "password = " ENVIRON["ARI_PASSWORD"]; next
    }
    section == ENVIRON["ARI_USERNAME"] && /^[ \t]*password_format[ \t]*=/ {
      print "password_format = plain"; next
    }
    { print }'
}

http_bindaddr() {
  awk '
    /^[ \t]*bindaddr[ \t]*=/ { print "bindaddr = " ENVIRON["ASTERISK_HTTP_BINDADDR"]; next }
    { print }'
}

if [ -d "$SRC" ]; then
  for file in "$SRC"/*.conf; do
    [ -e "$file" ] || continue
    name=$(basename "$file")
    target="$DST/$name.tmp"
    substitute_token "$file" > "$target"
    if [ "$name" = "ari.conf" ] && [ -n "${ARI_PASSWORD:-}" ]; then
      ari_password < "$target" > "$target.2" && mv "$target.2" "$target"
    fi
    if [ "$name" = "http.conf" ] && [ -n "${ASTERISK_HTTP_BINDADDR:-}" ]; then
      http_bindaddr < "$target" > "$target.2" && mv "$target.2" "$target"
    fi
    chmod 0640 "$target"
    chown root:asterisk "$target" 2>/dev/null || true
    mv "$target" "$DST/$name"
  done
fi

for spool in /var/spool/asterisk/recording /var/spool/asterisk/voicemail; do
  if [ -d "$spool" ]; then
    chown -R asterisk:asterisk "$spool" 2>/dev/null || true
  fi
done
exec "$@"
