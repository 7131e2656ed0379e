package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/bridgeconfig"
)

const (
	// checksumAnnotation on the pod template rolls the bridge when its config changes.
	checksumAnnotation = "messaging.junction.dev/config-checksum"
	// appliedHashAnnotation records what Junction last applied, so an unchanged child is not
	// applied again (idle reconciles write nothing).
	appliedHashAnnotation = "messaging.junction.dev/applied-hash"

	configVolume    = "config"
	configMountPath = "/etc/junction"
	httpPortName    = "http"
	// bridgeDrainDelay is how long a terminating bridge keeps serving while unready, so the
	// Service stops routing to it before its listeners close; the grace period covers it
	// plus the bridge's 20s drain.
	bridgeDrainDelay      = 5 * time.Second
	bridgeGracePeriodSecs = int64(35)
	grpcPortName          = "grpc"
)

// bridgeName is the name of an exposure's ConfigMap, Deployment and Service: DNS-1123 safe and
// at most 63 characters (long names are truncated and given a short hash).
func bridgeName(exposure string) string {
	name := exposure + "-bridge"
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:54] + "-" + hex.EncodeToString(sum[:])[:8]
}

// bridgeLabels are the recommended labels on every child and the pod selector.
func bridgeLabels(e *v1alpha1.ApiExposure) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       "junction-bridge",
		"app.kubernetes.io/instance":   e.Name,
		"app.kubernetes.io/component":  "bridge",
		"app.kubernetes.io/managed-by": "junction",
	}
}

// openAPIName is the ConfigMap holding an exposure's OpenAPI document.
func openAPIName(exposure string) string {
	return boundedName(exposure + "-openapi")
}

// openAPIKey is the ConfigMap key of the OpenAPI document.
const openAPIKey = "openapi.json"

func boundedName(name string) string {
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:54] + "-" + hex.EncodeToString(sum[:])[:8]
}

// renderBridgeConfig is the config the bridge of e reads. topics holds every referenced
// MessageTopic by name; broker is the MessageBroker they share; apiKeys is the data of the
// auth Secret (nil without auth). Only SHA-256 digests of the keys are rendered: the config
// lands in a ConfigMap, readable by far more subjects than the Secret.
func renderBridgeConfig(e *v1alpha1.ApiExposure, topics map[string]*v1alpha1.MessageTopic, broker *v1alpha1.MessageBroker, apiKeys map[string][]byte) (*bridgeconfig.Config, error) {
	cfg := &bridgeconfig.Config{
		Namespace: e.Namespace,
		Name:      e.Name,
		Kafka:     renderKafka(broker),
		HTTPPort:  restPort(e),
		GRPCPort:  grpcPort(e),
		RateLimit: renderRateLimit(e.Spec.RateLimit),
	}
	if c := e.Spec.REST.CORS; c != nil {
		cfg.CORS = &bridgeconfig.CORS{AllowedOrigins: c.AllowedOrigins, AllowedHeaders: c.AllowedHeaders, MaxAgeSeconds: c.MaxAgeSeconds}
	}
	if a := e.Spec.Auth; a != nil {
		cfg.Auth = &bridgeconfig.Auth{}
		for _, k := range a.Keys {
			secret, ok := apiKeys[k.Name]
			if !ok || len(secret) == 0 {
				return nil, fmt.Errorf("auth: Secret %s has no key %q", a.APIKeysSecretRef.Name, k.Name)
			}
			sum := sha256.Sum256(secret)
			key := bridgeconfig.APIKey{Name: k.Name, SHA256: hex.EncodeToString(sum[:]), RateLimit: renderRateLimit(k.RateLimit)}
			for _, g := range k.Grants {
				grant := bridgeconfig.Grant{Version: g.Version, Route: g.Route}
				for _, op := range g.Operations {
					grant.Operations = append(grant.Operations, bridgeconfig.Operation(op))
				}
				key.Grants = append(key.Grants, grant)
			}
			cfg.Auth.Keys = append(cfg.Auth.Keys, key)
		}
	}
	for _, v := range e.Spec.Versions {
		version := bridgeconfig.Version{Name: v.Name, Deprecated: v.Deprecated}
		if v.Sunset != nil {
			sunset := v.Sunset.UTC().Truncate(time.Second)
			version.Sunset = &sunset
		}
		if v.Deprecated {
			since := e.CreationTimestamp.UTC().Truncate(time.Second)
			if v.DeprecatedSince != nil {
				since = v.DeprecatedSince.UTC().Truncate(time.Second)
			}
			version.DeprecatedSince = &since
		}
		for _, r := range v.Routes {
			t, ok := topics[r.TopicRef.Name]
			if !ok {
				return nil, fmt.Errorf("route %s/%s: MessageTopic %q not found", v.Name, r.Name, r.TopicRef.Name)
			}
			route := bridgeconfig.Route{Name: r.Name, Topic: t.KafkaTopicName()}
			for _, op := range r.Operations {
				route.Operations = append(route.Operations, bridgeconfig.Operation(op))
			}
			route.Schema = servedSchema(t)
			if s, ok := t.Spec.Config["max.message.bytes"]; ok {
				if n, err := strconv.ParseInt(string(s), 10, 32); err == nil && n > 0 {
					route.MaxMessageBytes = int32(n)
				}
			}
			if b := r.Backend; b != nil {
				backend, err := renderBackend(b, topics)
				if err != nil {
					return nil, fmt.Errorf("route %s/%s: %w", v.Name, r.Name, err)
				}
				backend.Replies = renderReplies(e, v.Name, r)
				route.Backend = backend
			}
			version.Routes = append(version.Routes, route)
		}
		cfg.Versions = append(cfg.Versions, version)
	}
	return cfg, nil
}

// renderBackend is a route's backend with the dead-letter MessageTopic resolved to its
// Kafka topic name; unset durations stay zero and take the bridge's defaults.
func renderBackend(b *v1alpha1.Backend, topics map[string]*v1alpha1.MessageTopic) (*bridgeconfig.Backend, error) {
	out := &bridgeconfig.Backend{URL: b.URL, Method: b.Method, Timeout: renderDuration(b.Timeout),
		PassHeaders: b.PassHeaders, Ordering: string(b.Ordering)}
	if b.MaxConcurrency != nil {
		out.MaxConcurrency = *b.MaxConcurrency
	}
	if r := b.Retry; r != nil {
		if r.MaxAttempts != nil {
			out.Retry.MaxAttempts = *r.MaxAttempts
		}
		out.Retry.InitialBackoff = renderDuration(r.InitialBackoff)
		out.Retry.MaxBackoff = renderDuration(r.MaxBackoff)
		out.Retry.MaxRetryAfter = renderDuration(r.MaxRetryAfter)
	}
	if ref := b.DeadLetterTopicRef; ref != nil {
		t, ok := topics[ref.Name]
		if !ok {
			return nil, fmt.Errorf("dead-letter MessageTopic %q not found", ref.Name)
		}
		out.DeadLetterTopic = t.KafkaTopicName()
	}
	return out, nil
}

func renderDuration(d *metav1.Duration) bridgeconfig.Duration {
	if d == nil {
		return 0
	}
	return bridgeconfig.Duration(d.Duration)
}

// Where the bridge finds the MessageBroker's Secrets, mounted by bridgeDeployment.
const (
	kafkaCAPath     = "/etc/junction/kafka/ca"
	kafkaClientPath = "/etc/junction/kafka/client"
	kafkaSASLPath   = "/etc/junction/kafka/sasl"
)

// renderKafka is the bridge's Kafka client config: file paths, never the credentials.
func renderKafka(b *v1alpha1.MessageBroker) bridgeconfig.Kafka {
	k := bridgeconfig.Kafka{BootstrapServers: b.Spec.Kafka.BootstrapServers, ClientID: b.Spec.Kafka.ClientID}
	if t := b.Spec.Kafka.TLS; t != nil {
		k.TLS = &bridgeconfig.KafkaTLS{}
		if t.CASecretRef != nil {
			k.TLS.CAFile = kafkaCAPath + "/ca.crt"
		}
		if t.ClientCertSecretRef != nil {
			k.TLS.CertFile, k.TLS.KeyFile = kafkaClientPath+"/tls.crt", kafkaClientPath+"/tls.key"
		}
	}
	if a := b.Spec.Kafka.SASL; a != nil {
		k.SASL = &bridgeconfig.KafkaSASL{Mechanism: string(a.Mechanism),
			UsernameFile: kafkaSASLPath + "/username", PasswordFile: kafkaSASLPath + "/password"}
	}
	return k
}

// kafkaSecretVolumes mounts the MessageBroker's TLS and SASL Secrets where renderKafka said.
func kafkaSecretVolumes(b *v1alpha1.MessageBroker) ([]*corev1ac.VolumeApplyConfiguration, []*corev1ac.VolumeMountApplyConfiguration) {
	var vols []*corev1ac.VolumeApplyConfiguration
	var mounts []*corev1ac.VolumeMountApplyConfiguration
	add := func(name, secret, path string, items ...*corev1ac.KeyToPathApplyConfiguration) {
		src := corev1ac.SecretVolumeSource().WithSecretName(secret)
		if len(items) > 0 {
			src.WithItems(items...)
		}
		vols = append(vols, corev1ac.Volume().WithName(name).WithSecret(src))
		mounts = append(mounts, corev1ac.VolumeMount().WithName(name).WithMountPath(path).WithReadOnly(true))
	}
	if b == nil {
		return nil, nil
	}
	if t := b.Spec.Kafka.TLS; t != nil {
		if t.CASecretRef != nil {
			add("kafka-ca", t.CASecretRef.Name, kafkaCAPath, corev1ac.KeyToPath().WithKey(t.CASecretRef.Key).WithPath("ca.crt"))
		}
		if t.ClientCertSecretRef != nil {
			add("kafka-client-cert", t.ClientCertSecretRef.Name, kafkaClientPath,
				corev1ac.KeyToPath().WithKey("tls.crt").WithPath("tls.crt"), corev1ac.KeyToPath().WithKey("tls.key").WithPath("tls.key"))
		}
	}
	if a := b.Spec.Kafka.SASL; a != nil {
		add("kafka-sasl", a.SecretRef.Name, kafkaSASLPath,
			corev1ac.KeyToPath().WithKey("username").WithPath("username"), corev1ac.KeyToPath().WithKey("password").WithPath("password"))
	}
	return vols, mounts
}

func renderRateLimit(r *v1alpha1.RateLimitSpec) *bridgeconfig.RateLimit {
	if r == nil {
		return nil
	}
	return &bridgeconfig.RateLimit{RequestsPerSecond: r.RequestsPerSecond, Burst: r.Burst}
}

func restPort(e *v1alpha1.ApiExposure) int32 {
	if e.Spec.REST.Port != 0 {
		return e.Spec.REST.Port
	}
	return 8080
}

func grpcPort(e *v1alpha1.ApiExposure) int32 {
	if e.Spec.GRPC.Port != 0 {
		return e.Spec.GRPC.Port
	}
	return 9090
}

func ownerReference(e *v1alpha1.ApiExposure) *metav1ac.OwnerReferenceApplyConfiguration {
	return metav1ac.OwnerReference().
		WithAPIVersion(v1alpha1.GroupVersion.String()).WithKind("ApiExposure").
		WithName(e.Name).WithUID(e.UID).WithController(true).WithBlockOwnerDeletion(true)
}

// checksum is a short stable digest of data.
func checksum(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// withAppliedHash stamps the digest of the apply configuration itself onto it.
func withAppliedHash(obj any, annotate func(map[string]string)) error {
	data, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	annotate(map[string]string{appliedHashAnnotation: checksum(data)})
	return nil
}

// bridgeConfigMap holds the rendered bridge config.
func bridgeConfigMap(e *v1alpha1.ApiExposure, rendered []byte) (*corev1ac.ConfigMapApplyConfiguration, error) {
	cm := corev1ac.ConfigMap(bridgeName(e.Name), e.Namespace).
		WithLabels(bridgeLabels(e)).
		WithOwnerReferences(ownerReference(e)).
		WithData(map[string]string{bridgeconfig.FileName: string(rendered)})
	return cm, withAppliedHash(cm, func(a map[string]string) { cm.WithAnnotations(a) })
}

// openAPIConfigMap publishes the exposure's OpenAPI document for portals and GitOps diffs.
func openAPIConfigMap(e *v1alpha1.ApiExposure, doc []byte) (*corev1ac.ConfigMapApplyConfiguration, error) {
	labels := bridgeLabels(e)
	labels["app.kubernetes.io/component"] = "openapi"
	cm := corev1ac.ConfigMap(openAPIName(e.Name), e.Namespace).
		WithLabels(labels).
		WithOwnerReferences(ownerReference(e)).
		WithData(map[string]string{openAPIKey: string(doc)})
	return cm, withAppliedHash(cm, func(a map[string]string) { cm.WithAnnotations(a) })
}

// bridgeDeployment runs the bridge with the rendered config mounted; configSum rolls it.
func bridgeDeployment(e *v1alpha1.ApiExposure, broker *v1alpha1.MessageBroker, image, configSum string) (*appsv1ac.DeploymentApplyConfiguration, error) {
	secretVols, secretMounts := kafkaSecretVolumes(broker)
	labels := bridgeLabels(e)
	replicas := int32(1)
	if e.Spec.Replicas != nil {
		replicas = *e.Spec.Replicas
	}
	container := corev1ac.Container().
		WithName("bridge").
		WithImage(image).
		WithArgs("--config", configMountPath+"/"+bridgeconfig.FileName, "--drain-delay", bridgeDrainDelay.String()).
		WithPorts(
			corev1ac.ContainerPort().WithName(httpPortName).WithContainerPort(restPort(e)).WithProtocol(corev1.ProtocolTCP),
			corev1ac.ContainerPort().WithName(grpcPortName).WithContainerPort(grpcPort(e)).WithProtocol(corev1.ProtocolTCP)).
		WithVolumeMounts(corev1ac.VolumeMount().WithName(configVolume).WithMountPath(configMountPath).WithReadOnly(true)).
		WithVolumeMounts(secretMounts...).
		WithReadinessProbe(httpProbe("/readyz")).
		WithLivenessProbe(httpProbe("/healthz")).
		WithSecurityContext(corev1ac.SecurityContext().
			WithAllowPrivilegeEscalation(false).
			WithReadOnlyRootFilesystem(true).
			WithRunAsNonRoot(true).
			WithCapabilities(corev1ac.Capabilities().WithDrop("ALL")))
	if e.Spec.Resources != nil {
		res := corev1ac.ResourceRequirements()
		if e.Spec.Resources.Limits != nil {
			res.WithLimits(e.Spec.Resources.Limits)
		}
		if e.Spec.Resources.Requests != nil {
			res.WithRequests(e.Spec.Resources.Requests)
		}
		container.WithResources(res)
	}
	d := appsv1ac.Deployment(bridgeName(e.Name), e.Namespace).
		WithLabels(labels).
		WithOwnerReferences(ownerReference(e)).
		WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(replicas).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(labels)).
			WithTemplate(corev1ac.PodTemplateSpec().
				WithLabels(labels).
				WithAnnotations(map[string]string{checksumAnnotation: configSum}).
				WithSpec(corev1ac.PodSpec().
					WithAutomountServiceAccountToken(false).
					WithTerminationGracePeriodSeconds(bridgeGracePeriodSecs).
					WithSecurityContext(corev1ac.PodSecurityContext().
						WithRunAsNonRoot(true).
						WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))).
					WithContainers(container).
					WithVolumes(corev1ac.Volume().WithName(configVolume).
						WithConfigMap(corev1ac.ConfigMapVolumeSource().WithName(bridgeName(e.Name)))).
					WithVolumes(secretVols...))))
	return d, withAppliedHash(d, func(a map[string]string) { d.WithAnnotations(a) })
}

func httpProbe(path string) *corev1ac.ProbeApplyConfiguration {
	return corev1ac.Probe().WithHTTPGet(corev1ac.HTTPGetAction().WithPath(path).WithPort(intstr.FromString(httpPortName))).
		WithPeriodSeconds(10)
}

// bridgeService exposes the bridge's http and grpc ports.
func bridgeService(e *v1alpha1.ApiExposure) (*corev1ac.ServiceApplyConfiguration, error) {
	svc := corev1ac.Service(bridgeName(e.Name), e.Namespace).
		WithLabels(bridgeLabels(e)).
		WithOwnerReferences(ownerReference(e)).
		WithSpec(corev1ac.ServiceSpec().
			WithSelector(bridgeLabels(e)).
			WithPorts(
				corev1ac.ServicePort().WithName(httpPortName).WithPort(restPort(e)).
					WithTargetPort(intstr.FromString(httpPortName)).WithAppProtocol("http").WithProtocol(corev1.ProtocolTCP),
				corev1ac.ServicePort().WithName(grpcPortName).WithPort(grpcPort(e)).
					WithTargetPort(intstr.FromString(grpcPortName)).WithAppProtocol("grpc").WithProtocol(corev1.ProtocolTCP)))
	return svc, withAppliedHash(svc, func(a map[string]string) { svc.WithAnnotations(a) })
}
