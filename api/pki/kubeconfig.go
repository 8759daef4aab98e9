package pki

import (
	"fmt"
	"github.com/podnet/podnet/internal/atomicfile"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Names inside the kubeconfig podnet writes.
const (
	KubeconfigCluster = "podnet"
	KubeconfigUser    = "admin"
	KubeconfigContext = "podnet"
)

// WriteKubeconfig writes (mode 0600, atomically) a kubeconfig whose current context reaches
// serverURL, trusting caPEM and presenting token.
func WriteKubeconfig(path, serverURL string, caPEM []byte, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[KubeconfigCluster] = &clientcmdapi.Cluster{
		Server:                   serverURL,
		CertificateAuthorityData: caPEM,
	}
	cfg.AuthInfos[KubeconfigUser] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[KubeconfigContext] = &clientcmdapi.Context{
		Cluster:  KubeconfigCluster,
		AuthInfo: KubeconfigUser,
	}
	cfg.CurrentContext = KubeconfigContext
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("encoding kubeconfig: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), dirMode); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	return atomicfile.Write(path, data, keyMode)
}
