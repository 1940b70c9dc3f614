#!/bin/sh
# punchlab [programs] setup for Nebula: a CA and one certificate per node,
# made once per scenario in its work directory (the current directory).
# The overlay: the lighthouse is 10.99.0.100, peer role N is 10.99.0.N.
set -eu
nebula-cert ca -name punchlab-lab -duration 2h
nebula-cert sign -name lighthouse -ip 10.99.0.100/24
nebula-cert sign -name node1 -ip 10.99.0.1/24
nebula-cert sign -name node2 -ip 10.99.0.2/24
