// Package link is headwind's engine: one direction of one connection.
//
// A Link cuts writes into segments, draws each segment's fate from its own
// seeded random stream, computes when it arrives, and delivers it to the
// reader with a single timer armed for the earliest pending event. faultconn
// and netsim are thin front ends over it; nothing exported here is API.
package link
