package main

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/config"
	"github.com/podnet/podnet/services/endpoints"
	"github.com/podnet/podnet/services/loadbalancer"
	"github.com/podnet/podnet/services/proxy"
)

// runServices starts the service side of the node: the EndpointSlice and Endpoints
// controllers, the nftables proxy and LoadBalancer
// addresses from the configured pools. Its loops end with ctx. The proxy's table stays when the
// daemon stops: Services keep working while it restarts, and the next start syncs it in full.
func runServices(ctx context.Context, loops *sync.WaitGroup, reg *registry.Registry, cfg config.Config, parsed config.Parsed, log *slog.Logger) error {
	loops.Go(func() { endpoints.New(endpoints.Config{Registry: reg, Logger: log}).Run(ctx) })
	px, err := proxy.New(proxy.Config{
		Registry: reg, Logger: log, Table: cfg.Network.NFTablesTable, NodeName: cfg.NodeName,
		NodePortAddresses: []netip.Addr{parsed.NodeIP},
		ClusterCIDRs:      []netip.Prefix{parsed.ClusterCIDR},
		ServiceCIDRs:      []netip.Prefix{parsed.ServiceCIDR},
	})
	if err != nil {
		return err
	}
	loops.Go(func() {
		if err := px.Run(ctx); err != nil {
			log.Error("service proxy stopped", "err", err)
		}
	})
	pools := make([]loadbalancer.Range, len(parsed.LoadBalancerPools))
	for i, r := range parsed.LoadBalancerPools {
		pools[i] = loadbalancer.Range(r)
	}
	lb, err := loadbalancer.New(loadbalancer.Config{Registry: reg, Logger: log, Pools: pools})
	if err != nil {
		return err
	}
	loops.Go(func() { lb.Run(ctx) })
	return nil
}
