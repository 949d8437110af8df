package faultconn

import "github.com/headwind-go/headwind/internal/link"

// Partition cuts the connection off in both directions from now on, as a
// network partition does: segments arriving after this instant are lost
// (Stream mode retransmits them on the RTO schedule, and gives up with
// ETIMEDOUT after 15 retransmissions, as TCP does); Heal lets them through
// again. Like netsim's partitions, a change applies to arrivals after its
// instant. Conns of a Dialer share the Dialer's partition (see
// Dialer.Partition). Partition moves both directions onto the engine (a
// pump each), since the wrapped conn itself cannot be partitioned.
func (c *Conn) Partition() {
	c.gate.Set(true)
	c.startOut()
	c.startIn()
}

// Heal ends a partition: retransmissions from now on get through.
func (c *Conn) Heal() { c.gate.Set(false) }

// Reset resets the connection now, as an injected fault: this end's reads
// and writes fail with ECONNRESET (errors.Is ErrInjected), and the reset
// reaches the wrapped conn after what is in flight (a *net.TCPConn's peer
// sees ECONNRESET).
func (c *Conn) Reset() {
	c.startOut()
	c.startIn()
	c.user.InjectReset()
}

// Partition cuts every conn the Dialer has dialed, and every conn it
// dials until Heal, off in both directions; see Conn.Partition.
func (d *Dialer) Partition() {
	d.gateOnce().Set(true)
	d.mu.Lock()
	conns := d.conns
	d.mu.Unlock()
	for _, c := range conns {
		c.startOut()
		c.startIn()
	}
}

// Heal ends the Dialer's partition.
func (d *Dialer) Heal() { d.gateOnce().Set(false) }

func (d *Dialer) gateOnce() *link.Gate {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gate == nil {
		d.gate = new(link.Gate)
	}
	return d.gate
}
