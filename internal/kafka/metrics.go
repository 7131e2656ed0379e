package kafka

import "github.com/prometheus/client_golang/prometheus"

// AdminRequests counts the requests the admin sends to Kafka, by Kafka API, so that "idle is
// idle" can be watched in production and asserted in tests.
var AdminRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "junction_kafka_admin_requests_total",
	Help: "Requests sent to Kafka by the operator's admin client, by Kafka API.",
}, []string{"api"})

// writeAPIs are the admin APIs that change the cluster.
var writeAPIs = []string{"create_topics", "create_partitions", "incremental_alter_configs", "delete_topics", "alter_partition_reassignments"}

// WriteAPIs lists the label values of AdminRequests that are writes to Kafka.
func WriteAPIs() []string { return append([]string(nil), writeAPIs...) }

func countRequest(api string) { AdminRequests.WithLabelValues(api).Inc() }
