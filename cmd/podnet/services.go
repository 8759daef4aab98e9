package main

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"sync"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/config"
	"github.com/podnet/podnet/services/dns"
	"github.com/podnet/podnet/services/endpoints"
	"github.com/podnet/podnet/services/loadbalancer"
	"github.com/podnet/podnet/services/proxy"
)

// runServices starts the service side of the node: cluster DNS, the EndpointSlice and
// Endpoints controllers, the nftables proxy and LoadBalancer
// addresses from the configured pools. Its loops end with ctx. The proxy's table stays when the
// daemon stops: Services keep working while it restarts, and the next start syncs it in full.
// It returns the writer of the services' metrics (the DNS server's).
func runServices(ctx context.Context, loops *sync.WaitGroup, reg *registry.Registry, cfg config.Config, parsed config.Parsed, log *slog.Logger) (func(io.Writer), error) {
	loops.Go(func() { endpoints.New(endpoints.Config{Registry: reg, Logger: log}).Run(ctx) })
	px, err := proxy.New(proxy.Config{
		Registry: reg, Logger: log, Table: cfg.Network.NFTablesTable, NodeName: cfg.NodeName,
		NodePortAddresses: []netip.Addr{parsed.NodeIP},
		ClusterCIDRs:      []netip.Prefix{parsed.ClusterCIDR},
		ServiceCIDRs:      []netip.Prefix{parsed.ServiceCIDR},
	})
	if err != nil {
		return nil, err
	}
	loops.Go(func() {
		if err := px.Run(ctx); err != nil {
			log.Error("service proxy stopped", "err", err)
		}
	})
	dnsServer, err := runDNS(ctx, loops, reg, cfg, parsed, log)
	if err != nil {
		return nil, err
	}
	pools := make([]loadbalancer.Range, len(parsed.LoadBalancerPools))
	for i, r := range parsed.LoadBalancerPools {
		pools[i] = loadbalancer.Range(r)
	}
	lb, err := loadbalancer.New(loadbalancer.Config{Registry: reg, Logger: log, Pools: pools})
	if err != nil {
		return nil, err
	}
	loops.Go(func() { lb.Run(ctx) })
	return dnsServer.WriteMetrics, nil
}

// runDNS starts the cluster DNS server on the node IP and keeps the kube-dns Service pointing at
// it, so that pods reach it through the proxy at the cluster DNS address.
func runDNS(ctx context.Context, loops *sync.WaitGroup, reg *registry.Registry, cfg config.Config, parsed config.Parsed, log *slog.Logger) (*dns.Server, error) {
	listen := netip.AddrPortFrom(parsed.NodeIP, uint16(cfg.Network.DNSPort))
	srv, err := dns.New(dns.Config{
		Zone: cfg.Network.ClusterDomain, Listen: []netip.AddrPort{listen}, ResolvConf: cfg.Network.DNSResolvConf,
		ServiceIP: parsed.ClusterDNS, Registry: reg, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	loops.Go(func() {
		if err := srv.Run(ctx); err != nil {
			log.Error("cluster DNS stopped", "err", err)
		}
	})
	loops.Go(func() {
		dns.KeepService(ctx, dns.ServiceConfig{Registry: reg, Logger: log, ClusterIP: parsed.ClusterDNS, Endpoint: listen})
	})
	return srv, nil
}
