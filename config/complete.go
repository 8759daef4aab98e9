package config

import (
	"fmt"
	"net/netip"
	"os"
)

// NodeIPDetector finds the node's IP address when none is configured.
type NodeIPDetector interface {
	NodeIP() (netip.Addr, error)
}

// NodeIPFunc adapts a function to NodeIPDetector.
type NodeIPFunc func() (netip.Addr, error)

// NodeIP calls f.
func (f NodeIPFunc) NodeIP() (netip.Addr, error) { return f() }

// hostname is a variable so that tests can give Complete a hostname with capitals.
var hostname = os.Hostname

// Complete fills NodeName (the hostname, lowercased) and NodeIP (from detect) when they are empty.
// It leaves configured values alone: Validate judges them.
func (c *Config) Complete(detect NodeIPDetector) error {
	if c.NodeName == "" {
		h, err := hostname()
		if err != nil {
			return fmt.Errorf("node name: reading hostname: %w", err)
		}
		c.NodeName = trimHostname(h)
	}
	if c.NodeIP == "" {
		if detect == nil {
			return fmt.Errorf("node IP: not configured and no detector given")
		}
		ip, err := detect.NodeIP()
		if err != nil {
			return fmt.Errorf("node IP: detecting (set nodeIP or --node-ip to skip): %w", err)
		}
		c.NodeIP = ip.String()
	}
	return nil
}
