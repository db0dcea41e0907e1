#!/bin/sh
# Makes the certificates the TLS tests use, in directory $1:
#   ca.crt/ca.key          a test CA
#   server.crt/server.key  signed by it, for localhost and 127.0.0.1
#   renewed.crt/renewed.key the same names, another key (a renewal)
#   other.crt/other.key    signed by it, for other.example only (a wrong host)
#   wrongca.crt            a CA that signed none of them
set -eu
d=$1
mkdir -p "$d"
cd "$d"
ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
openssl req -x509 $ec -keyout ca.key -out ca.crt -days 2 -subj /CN=warden-test-ca \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -x509 $ec -keyout wrongca.key -out wrongca.crt -days 2 -subj /CN=warden-wrong-ca \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
leaf() { # NAME CN SAN
  openssl req $ec -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
leaf server warden-test-server DNS:localhost,IP:127.0.0.1
leaf renewed warden-test-renewed DNS:localhost,IP:127.0.0.1
leaf other warden-test-other DNS:other.example
