package controllers

import (
	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/bridgeconfig"
)

// RenderBridgeConfig is the config the bridge of e reads, exactly as the operator renders it, for
// tools that work without a cluster (`junction openapi`). topics holds every MessageTopic the
// routes name, by name; apiKeys the key material by key name, when e has auth.
func RenderBridgeConfig(e *v1alpha1.ApiExposure, topics map[string]*v1alpha1.MessageTopic, broker *v1alpha1.MessageBroker, apiKeys map[string][]byte) (*bridgeconfig.Config, error) {
	return renderBridgeConfig(e, topics, broker, apiKeys)
}
