// kubectl built from the published k8s.io/kubectl module at the pinned
// Kubernetes version, so the client matches the cluster exactly without the
// k8s.io/kubernetes staging replace dance. airgap/tools.py stamps the version
// with -ldflags -X at build time.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
		os.Exit(1)
	}
}
