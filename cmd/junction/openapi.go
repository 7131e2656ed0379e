package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/controllers"
	"github.com/junction-dev/junction/internal/openapi"
)

func newOpenAPICommand() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "openapi FILE",
		Short: "Print the OpenAPI document of an ApiExposure without a cluster.",
		Long: `openapi reads an ApiExposure and the MessageTopics its routes name from FILE (a file or a
directory of manifests) and prints the OpenAPI 3.1 document its bridge serves at /openapi.json,
rendered by the operator's own code. Deprecated versions without deprecatedSince are dated by
the object's creationTimestamp in a cluster; set deprecatedSince for identical output.`,
		Example: `  junction openapi config/samples
  junction openapi --name shop/orders-api deploy/ > openapi.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := loadManifests(args[0])
			if err != nil {
				return err
			}
			doc, err := renderOpenAPI(m, name)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(doc)
			return err
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the ApiExposure as NAMESPACE/NAME or NAME (needed when FILE holds several)")
	return cmd
}

// renderOpenAPI builds the document of one exposure in m.
func renderOpenAPI(m *manifests, name string) ([]byte, error) {
	e, err := pickExposure(m, name)
	if err != nil {
		return nil, err
	}
	topics := map[string]*v1alpha1.MessageTopic{}
	var broker *v1alpha1.MessageBroker
	for _, v := range e.Spec.Versions {
		for _, r := range v.Routes {
			t, ok := m.topics[objectKey(e.Namespace, r.TopicRef.Name)]
			if !ok {
				return nil, fmt.Errorf("route %s/%s: MessageTopic %s/%s is not in the manifests", v.Name, r.Name, e.Namespace, r.TopicRef.Name)
			}
			topics[r.TopicRef.Name] = t
			if b, ok := m.brokers[objectKey(e.Namespace, t.Spec.BrokerRef.Name)]; ok && broker == nil {
				broker = b
			}
		}
	}
	if broker == nil {
		broker = &v1alpha1.MessageBroker{} // the document does not depend on how Kafka is reached
	}
	// API key material lives in a Secret; the document names the scheme, never the keys.
	keys := map[string][]byte{}
	if e.Spec.Auth != nil {
		for _, k := range e.Spec.Auth.Keys {
			keys[k.Name] = []byte("offline")
		}
	}
	cfg, err := controllers.RenderBridgeConfig(e, topics, broker, keys)
	if err != nil {
		return nil, fmt.Errorf("ApiExposure %s/%s: %w", e.Namespace, e.Name, err)
	}
	return openapi.Build(cfg)
}

func pickExposure(m *manifests, name string) (*v1alpha1.ApiExposure, error) {
	if name != "" {
		if !strings.Contains(name, "/") {
			var found []*v1alpha1.ApiExposure
			for _, e := range m.exposures {
				if e.Name == name {
					found = append(found, e)
				}
			}
			if len(found) == 1 {
				return found[0], nil
			}
			if len(found) > 1 {
				return nil, fmt.Errorf("ApiExposure %s exists in several namespaces: use --name NAMESPACE/NAME", name)
			}
		} else if e, ok := m.exposures[name]; ok {
			return e, nil
		}
		return nil, fmt.Errorf("no ApiExposure %s in the manifests", name)
	}
	switch len(m.exposures) {
	case 0:
		return nil, fmt.Errorf("no ApiExposure in the manifests")
	case 1:
		for _, e := range m.exposures {
			return e, nil
		}
	}
	names := make([]string, 0, len(m.exposures))
	for k := range m.exposures {
		names = append(names, k)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("several ApiExposures (%s): choose one with --name", strings.Join(names, ", "))
}
