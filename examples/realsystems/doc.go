// Package realsystems is headwind's real-systems suite: unmodified
// third-party networking libraries (gRPC, NATS, hashicorp/memberlist,
// quic-go, go-redis, hashicorp/raft) run over netsim on virtual time,
// with partitions, heals, crashes and restarts, asserting what they do at
// exact virtual instants. It is a nested module with its own go.mod, so
// headwind's own module graph stays small. See README.md for the
// compatibility guide.
package realsystems
