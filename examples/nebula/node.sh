#!/bin/sh
# punchlab [programs] server and client for Nebula: writes this node's
# config into the work directory from the PUNCHLAB_* variables and runs
# nebula in the foreground. Usage: node.sh lighthouse | node.sh peer
set -eu
w=$PUNCHLAB_WORKDIR
lh_ip=10.99.0.100
if [ "$1" = lighthouse ]; then
	name=lighthouse am_lh=true port=$PUNCHLAB_SERVER_PORT hosts='[]'
else
	name=node$PUNCHLAB_ROLE am_lh=false port=$PUNCHLAB_LOCAL_PORT hosts="[\"$lh_ip\"]"
fi
cat > "$w/$name.yml" <<YML
pki:
  ca: $w/ca.crt
  cert: $w/$name.crt
  key: $w/$name.key
static_host_map:
  "$lh_ip": ["$PUNCHLAB_SERVER"]
lighthouse:
  am_lighthouse: $am_lh
  interval: 1
  hosts: $hosts
listen:
  host: 0.0.0.0
  port: $port
# Punch towards the endpoints the lighthouse observed; no punch-back
# ("respond") and no relays: both are off by default in Nebula 1.6.
punchy:
  punch: true
tun:
  dev: nebula1
logging:
  level: info
  format: text
firewall:
  outbound:
    - port: any
      proto: any
      host: any
  inbound:
    - port: any
      proto: icmp
      host: any
YML
exec nebula -config "$w/$name.yml"
