#!/bin/sh
# Regenerates the test PKI of tests/crypto (see README.md). Needs the openssl
# CLI (OpenSSL 3.0 or later). Run from this directory; it overwrites every
# file. Every certificate is issued with `openssl ca`, which (unlike
# `openssl req -x509` and `openssl x509 -req` in OpenSSL 3.0) can set a start
# date in the past, so the PKI does not depend on the clock of the machine
# that made it.
set -eu
KEY="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
START=20000101000000Z
END=21250101000000Z

mkdir -p ca.db
: > ca.db/index.txt
echo 01 > ca.db/serial
cat > ca.cnf <<EOT
[ca]
default_ca = test
[test]
database = ca.db/index.txt
serial = ca.db/serial
new_certs_dir = ca.db
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[localhost]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
[example]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:example.com
EOT
CA="openssl ca -batch -notext -config ca.cnf"

# The test CA, self-signed.
openssl req -new $KEY -keyout ca.key -out ca.csr -subj "/CN=zttp test CA"
$CA -selfsign -keyfile ca.key -in ca.csr -extensions ca_ext \
  -startdate $START -enddate $END -out ca.pem

# server.pem: localhost and 127.0.0.1. server.key is the key of every leaf.
openssl req -new $KEY -keyout server.key -out server.csr -subj "/CN=localhost"
$CA -cert ca.pem -keyfile ca.key -in server.csr -extensions localhost \
  -startdate $START -enddate $END -out server.pem

# other.pem: another name (example.com), same key.
openssl req -new -key server.key -out other.csr -subj "/CN=example.com"
$CA -cert ca.pem -keyfile ca.key -in other.csr -extensions example \
  -startdate $START -enddate $END -out other.pem

# expired.pem: localhost again, valid during the year 2000 only.
$CA -cert ca.pem -keyfile ca.key -in server.csr -extensions localhost \
  -startdate $START -enddate 20010101000000Z -out expired.pem

# cadir/: the CA as a hashed directory (SSL_CTX_load_verify_locations' dir),
# a copy named by its subject hash rather than a c_rehash symlink.
rm -rf cadir && mkdir cadir
cp ca.pem "cadir/$(openssl x509 -in ca.pem -noout -hash).0"

rm -rf ca.db ca.cnf ca.csr server.csr other.csr
