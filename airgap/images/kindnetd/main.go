// kindnetd for air-gapped kind clusters: our own small implementation of the
// job kind's default CNI daemon does, for the image name kind references.
//
// Every 10 seconds (and at start) it:
//   - lists the cluster's Nodes through the API server (in-cluster service
//     account; kind's kindnet ClusterRole allows list on nodes),
//   - finds its own Node (an InternalIP equal to HOST_IP) and writes
//     /etc/cni/net.d/10-kindnet.conflist: ptp + host-local IPAM over the
//     Node's podCIDRs, then portmap (plugins the node image ships),
//   - routes every other Node's podCIDRs via that Node's InternalIP,
//   - masquerades traffic leaving the pod network (chain KIND-MASQ-AGENT),
//     except to POD_SUBNET and other cluster-internal destinations.
//
// NetworkPolicy is not handled here. Standard library only, so it builds
// from the Go toolchain alone.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

const (
	saDir        = "/var/run/secrets/kubernetes.io/serviceaccount"
	cniConfPath  = "/etc/cni/net.d/10-kindnet.conflist"
	masqChain    = "KIND-MASQ-AGENT"
	syncInterval = 10 * time.Second
)

type address struct {
	Type    string `json:"type"`
	Address string `json:"address"`
}

type node struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		PodCIDR  string   `json:"podCIDR"`
		PodCIDRs []string `json:"podCIDRs"`
	} `json:"spec"`
	Status struct {
		Addresses []address `json:"addresses"`
	} `json:"status"`
}

type nodeList struct {
	Items []node `json:"items"`
}

func (n node) cidrs() []string {
	if len(n.Spec.PodCIDRs) > 0 {
		return n.Spec.PodCIDRs
	}
	if n.Spec.PodCIDR != "" {
		return []string{n.Spec.PodCIDR}
	}
	return nil
}

func (n node) internalIPs() []string {
	var ips []string
	for _, a := range n.Status.Addresses {
		if a.Type == "InternalIP" {
			ips = append(ips, a.Address)
		}
	}
	return ips
}

type apiClient struct {
	base  string
	http  *http.Client
	token string
}

func newAPIClient() (*apiClient, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if endpoint := os.Getenv("CONTROL_PLANE_ENDPOINT"); endpoint != "" {
		h, p, err := net.SplitHostPort(endpoint)
		if err != nil {
			return nil, fmt.Errorf("CONTROL_PLANE_ENDPOINT %q: %w", endpoint, err)
		}
		host, port = h, p
	}
	if host == "" || port == "" {
		return nil, errors.New("KUBERNETES_SERVICE_HOST/PORT not set: not running in a pod?")
	}
	caPEM, err := os.ReadFile(filepath.Join(saDir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no certificate in service account ca.crt")
	}
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	return &apiClient{
		base: "https://" + net.JoinHostPort(host, port),
		http: &http.Client{Transport: transport, Timeout: 15 * time.Second},
	}, nil
}

func (c *apiClient) listNodes(ctx context.Context) ([]node, error) {
	// The token is re-read each time: kubelet rotates projected tokens.
	token, err := os.ReadFile(filepath.Join(saDir, "token"))
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/v1/nodes", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("list nodes: HTTP %d", resp.StatusCode)
	}
	var list nodeList
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// cniConfig renders the conflist for this node's pod CIDRs.
func cniConfig(cidrs []string, mtu int) ([]byte, error) {
	var ranges [][]map[string]string
	var routes []map[string]string
	for _, cidr := range cidrs {
		ip, _, err := net.ParseCIDR(cidr)
		if err != nil {
			return nil, fmt.Errorf("pod CIDR %q: %w", cidr, err)
		}
		ranges = append(ranges, []map[string]string{{"subnet": cidr}})
		if ip.To4() != nil {
			routes = append(routes, map[string]string{"dst": "0.0.0.0/0"})
		} else {
			routes = append(routes, map[string]string{"dst": "::/0"})
		}
	}
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       "kindnet",
		"plugins": []any{
			map[string]any{
				"type":   "ptp",
				"ipMasq": false,
				"mtu":    mtu,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": "/run/cni-ipam-state",
					"routes":  routes,
					"ranges":  ranges,
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// writeIfChanged writes data atomically; it reports whether the file changed.
func writeIfChanged(path string, data []byte) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return false, err
	}
	return true, os.Rename(tmp, path)
}

// hostMTU is the MTU of the interface that holds hostIP (1500 if unknown).
func hostMTU(hostIP string) int {
	ifaces, err := net.Interfaces()
	if err != nil {
		return 1500
	}
	for _, iface := range ifaces {
		addrs, _ := iface.Addrs()
		for _, a := range addrs {
			if ipnet, ok := a.(*net.IPNet); ok && ipnet.IP.String() == hostIP {
				return iface.MTU
			}
		}
	}
	return 1500
}

func run(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// iptablesBackend picks the backend (nft or legacy) kube-proxy's rules live in.
func iptablesBackend(family string) string {
	nft, _ := run(family+"-nft-save", "-t", "nat")
	legacy, _ := run(family+"-legacy-save", "-t", "nat")
	if strings.Count(legacy, "KUBE-") > strings.Count(nft, "KUBE-") {
		return "legacy"
	}
	return "nft"
}

// syncMasquerade keeps KIND-MASQ-AGENT: RETURN for cluster destinations, MASQUERADE the rest.
func syncMasquerade(ipv6 bool, noMasq []string) error {
	family := "iptables"
	if ipv6 {
		family = "ip6tables"
	}
	backend := iptablesBackend(family)
	ipt := family + "-" + backend
	if _, err := run(ipt, "-t", "nat", "-N", masqChain); err != nil {
		if _, lerr := run(ipt, "-t", "nat", "-L", masqChain, "-n"); lerr != nil {
			return err
		}
	}
	jump := []string{"POSTROUTING", "-m", "addrtype", "!", "--dst-type", "LOCAL",
		"-m", "comment", "--comment", "kind-masq-agent: masquerade traffic leaving the pod network",
		"-j", masqChain}
	if _, err := run(ipt, append([]string{"-t", "nat", "-C"}, jump...)...); err != nil {
		if _, err := run(ipt, append([]string{"-t", "nat", "-A"}, jump...)...); err != nil {
			return err
		}
	}
	// Rebuild the chain in one iptables-restore transaction (no gap without rules).
	var b strings.Builder
	b.WriteString("*nat\n:" + masqChain + " - [0:0]\n")
	for _, cidr := range noMasq {
		fmt.Fprintf(&b, "-A %s -d %s -m comment --comment \"kind-masq-agent: cluster destination\" -j RETURN\n", masqChain, cidr)
	}
	fmt.Fprintf(&b, "-A %s -m comment --comment \"kind-masq-agent: outbound\" -j MASQUERADE\nCOMMIT\n", masqChain)
	restore := ipt + "-restore"
	cmd := exec.Command(restore, "--noflush")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", restore, err, out)
	}
	return nil
}

type state struct {
	hostIP   string
	subnets  []string // POD_SUBNET entries
	routes   map[string]string
	lastConf []byte
}

func (s *state) sync(ctx context.Context, api *apiClient) error {
	nodes, err := api.listNodes(ctx)
	if err != nil {
		return err
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Metadata.Name < nodes[j].Metadata.Name })
	var self *node
	for i := range nodes {
		for _, ip := range nodes[i].internalIPs() {
			if ip == s.hostIP {
				self = &nodes[i]
			}
		}
	}
	if self == nil {
		return fmt.Errorf("no node has InternalIP %s yet", s.hostIP)
	}
	cidrs := self.cidrs()
	if len(cidrs) == 0 {
		return fmt.Errorf("node %s has no podCIDR yet", self.Metadata.Name)
	}
	conf, err := cniConfig(cidrs, hostMTU(s.hostIP))
	if err != nil {
		return err
	}
	changed, err := writeIfChanged(cniConfPath, conf)
	if err != nil {
		return err
	}
	s.lastConf = conf
	if changed {
		log.Printf("wrote %s for node %s, pod CIDRs %v", cniConfPath, self.Metadata.Name, cidrs)
	}
	// Routes to the other nodes' pod CIDRs through their node address.
	for _, n := range nodes {
		if n.Metadata.Name == self.Metadata.Name {
			continue
		}
		for _, cidr := range n.cidrs() {
			cidrIP, _, err := net.ParseCIDR(cidr)
			if err != nil {
				continue
			}
			for _, gw := range n.internalIPs() {
				gwIP := net.ParseIP(gw)
				if gwIP == nil || (gwIP.To4() == nil) != (cidrIP.To4() == nil) {
					continue
				}
				if s.routes[cidr] == gw {
					break
				}
				family := "-4"
				if gwIP.To4() == nil {
					family = "-6"
				}
				if _, err := run("ip", family, "route", "replace", cidr, "via", gw); err != nil {
					return err
				}
				s.routes[cidr] = gw
				log.Printf("route %s via %s (node %s)", cidr, gw, n.Metadata.Name)
				break
			}
		}
	}
	// Masquerade everything that leaves the cluster's pod network.
	for _, ipv6 := range []bool{false, true} {
		var noMasq []string
		for _, cidr := range s.subnets {
			ip, _, err := net.ParseCIDR(cidr)
			if err == nil && (ip.To4() == nil) == ipv6 {
				noMasq = append(noMasq, cidr)
			}
		}
		if len(noMasq) == 0 {
			continue
		}
		if err := syncMasquerade(ipv6, noMasq); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("kindnetd: ")
	hostIP := os.Getenv("HOST_IP")
	if hostIP == "" {
		log.Fatal("HOST_IP is not set (the DaemonSet passes status.hostIP)")
	}
	var subnets []string
	for _, s := range strings.Split(os.Getenv("POD_SUBNET"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			subnets = append(subnets, s)
		}
	}
	api, err := newAPIClient()
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	st := &state{hostIP: hostIP, subnets: subnets, routes: map[string]string{}}
	log.Printf("starting: host %s, pod subnets %v", hostIP, subnets)
	for {
		wait := syncInterval
		if err := st.sync(ctx, api); err != nil {
			log.Printf("sync: %v", err)
			if st.lastConf == nil {
				wait = 2 * time.Second // the node stays NotReady until the first config
			}
		}
		select {
		case <-ctx.Done():
			log.Print("stopping")
			return
		case <-time.After(wait):
		}
	}
}
