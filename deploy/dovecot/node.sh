#!/usr/bin/env bash
# Runs a dovecot IMAP server of its own in the foreground (dovecot replaces this shell, so its
# pid is this script's), for the e-mail channel's tests: configuration, mail, state and
# sockets all in DIR, listening on 127.0.0.1:PORT only, one passwd-file user USER with
# PASSWORD. TLS is required before a login (STARTTLS), with the certificate and key the test
# wrote to DIR/cert.pem and DIR/key.pem. With NO_IDLE=1 the server does not offer IDLE, so
# the reader's polling is tested too.
#
#   bash deploy/dovecot/node.sh DIR PORT USER PASSWORD
#
# Stopped with SIGTERM and started again on the same DIR, it keeps its mail and UIDVALIDITY.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"

dir=$1 port=$2 user=$3 password=$4
bin="$(command -v dovecot || echo /usr/sbin/dovecot)"
if [ ! -x "$bin" ]; then
  log "dovecot is not installed: deploy/test.sh installs it (ensure_dovecot in deploy/common.sh)"
  exit 1
fi
mkdir -p "$dir/run" "$dir/state" "$dir/home"
if [ "$(id -u)" = 0 ]; then
  internal=dovecot login=dovenull mail_user=nobody mail_group=nogroup
  chown -R "$mail_user:$mail_group" "$dir/home"
else
  internal=$(id -un) login=$(id -un) mail_user=$(id -un) mail_group=$(id -gn)
fi
chmod 755 "$dir"
printf '%s:{PLAIN}%s::::::\n' "$user" "$password" >"$dir/users"
chmod 644 "$dir/users" "$dir/cert.pem"
chmod 640 "$dir/key.pem"
capability=""
if [ "${NO_IDLE:-0}" = 1 ]; then
  capability="imap_capability = IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE UIDPLUS"
fi
cat >"$dir/dovecot.conf" <<CONF
base_dir = $dir/run
state_dir = $dir/state
instance_name = switchboard-test-$port
log_path = /dev/stderr
protocols = imap
listen = 127.0.0.1
default_internal_user = $internal
default_login_user = $login
first_valid_uid = 0
ssl = required
ssl_cert = <$dir/cert.pem
ssl_key = <$dir/key.pem
disable_plaintext_auth = yes
auth_mechanisms = plain login
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/users
}
userdb {
  driver = static
  args = uid=$mail_user gid=$mail_group home=$dir/home/%u
}
mail_location = maildir:~/Maildir
$capability
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
CONF
exec "$bin" -F -c "$dir/dovecot.conf"
