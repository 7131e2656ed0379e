package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"

	"github.com/IBM/sarama"
)

// Admin is the part of Kafka's admin API the operator uses. Create and delete are idempotent.
type Admin interface {
	// DescribeCluster reports the cluster id, brokers and controller.
	DescribeCluster(ctx context.Context) (ClusterInfo, error)
	// DescribeTopic reports a topic, or ErrTopicNotFound.
	DescribeTopic(ctx context.Context, name string) (TopicState, error)
	// DescribeTopics reports many topics in a constant number of requests; missing topics are
	// absent from the result.
	DescribeTopics(ctx context.Context, names []string) (map[string]TopicState, error)
	// CreateTopic creates a topic; an existing topic is not an error.
	CreateTopic(ctx context.Context, spec TopicSpec) error
	// CreatePartitions grows a topic to total partitions.
	CreatePartitions(ctx context.Context, name string, total int32) error
	// AlterTopicConfig sets and deletes topic-level config keys incrementally; other keys are untouched.
	AlterTopicConfig(ctx context.Context, name string, set map[string]string, remove []string) error
	// DeleteTopic deletes a topic; a missing topic is not an error.
	DeleteTopic(ctx context.Context, name string) error
	// ReassignPartitions moves the replicas of a topic's partitions: assignment[p] lists the
	// broker ids that should hold partition p, preferred leader first.
	ReassignPartitions(ctx context.Context, name string, assignment [][]int32) error
	// ReassignmentsInProgress counts, among the topic's first partitions partitions, those whose
	// replicas are still moving.
	ReassignmentsInProgress(ctx context.Context, name string, partitions int32) (int, error)
	// Close releases the connections.
	Close() error
}

// ClusterInfo is what the cluster says about itself.
type ClusterInfo struct {
	ClusterID  string
	Brokers    int32
	Controller int32
}

// TopicSpec is a topic to create.
type TopicSpec struct {
	Name              string
	Partitions        int32
	ReplicationFactor int32
	Config            map[string]string
}

// TopicState is a topic as Kafka reports it.
type TopicState struct {
	Name              string
	ID                string
	Partitions        int32
	ReplicationFactor int32
	// Config holds only the overrides set on the topic itself, never values inherited from the
	// broker or Kafka's defaults.
	Config map[string]string
	// Replicas lists, per partition, the broker ids holding it, preferred leader first.
	Replicas [][]int32
	// Brokers are the ids of the cluster's live brokers, sorted.
	Brokers []int32
}

// saramaAdmin adapts sarama's ClusterAdmin. sarama calls take no context: a cancelled context
// is checked before each call and the client's timeouts bound each request.
type saramaAdmin struct {
	client sarama.Client
	admin  sarama.ClusterAdmin
}

// NewAdmin connects to the cluster described by cfg.
func NewAdmin(cfg ClientConfig) (Admin, error) {
	client, err := sarama.NewClient(cfg.BootstrapServers, cfg.saramaConfig())
	if err != nil {
		return nil, mapError(err)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		_ = client.Close()
		return nil, mapError(err)
	}
	return &saramaAdmin{client: client, admin: admin}, nil
}

func (a *saramaAdmin) metadata(ctx context.Context, topics []string) (*sarama.MetadataResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	broker, err := a.client.Controller()
	if err != nil {
		broker = a.client.LeastLoadedBroker()
		if broker == nil {
			return nil, mapError(err)
		}
	}
	countRequest("metadata")
	resp, err := broker.GetMetadata(sarama.NewMetadataRequest(a.client.Config().Version, topics))
	if err != nil {
		_, _ = a.client.RefreshController()
		return nil, mapError(err)
	}
	return resp, nil
}

func (a *saramaAdmin) DescribeCluster(ctx context.Context) (ClusterInfo, error) {
	// An empty, non-nil topic list asks for brokers only.
	resp, err := a.metadata(ctx, []string{})
	if err != nil {
		return ClusterInfo{}, err
	}
	info := ClusterInfo{Brokers: int32(len(resp.Brokers)), Controller: resp.ControllerID}
	if resp.ClusterID != nil {
		info.ClusterID = *resp.ClusterID
	}
	return info, nil
}

func (a *saramaAdmin) DescribeTopic(ctx context.Context, name string) (TopicState, error) {
	states, err := a.DescribeTopics(ctx, []string{name})
	if err != nil {
		return TopicState{}, err
	}
	state, ok := states[name]
	if !ok {
		return TopicState{}, fmt.Errorf("%w: %s", ErrTopicNotFound, name)
	}
	return state, nil
}

// DescribeTopics reports many topics in two requests whatever their number: one metadata
// request and one batched DescribeConfigs. Missing topics are absent from the result.
func (a *saramaAdmin) DescribeTopics(ctx context.Context, names []string) (map[string]TopicState, error) {
	if len(names) == 0 {
		return map[string]TopicState{}, nil
	}
	resp, err := a.metadata(ctx, names)
	if err != nil {
		return nil, err
	}
	var brokers []int32
	for _, b := range resp.Brokers {
		brokers = append(brokers, b.ID())
	}
	slices.Sort(brokers)
	states := make(map[string]TopicState, len(names))
	var resources []*sarama.ConfigResource
	for _, md := range resp.Topics {
		switch {
		case md.Err == sarama.ErrUnknownTopicOrPartition:
			continue
		case md.Err != sarama.ErrNoError:
			return nil, mapError(md.Err)
		}
		state := TopicState{Name: md.Name, ID: md.Uuid.String(), Partitions: int32(len(md.Partitions)),
			Replicas: make([][]int32, len(md.Partitions)), Brokers: brokers, Config: map[string]string{}}
		for _, p := range md.Partitions {
			if p.ID == 0 {
				state.ReplicationFactor = int32(len(p.Replicas))
			}
			if int(p.ID) < len(state.Replicas) {
				state.Replicas[p.ID] = append([]int32(nil), p.Replicas...)
			}
		}
		states[md.Name] = state
		resources = append(resources, &sarama.ConfigResource{Type: sarama.TopicResource, Name: md.Name})
	}
	if len(resources) == 0 {
		return states, nil
	}
	countRequest("describe_configs")
	results, err := a.admin.DescribeConfigs(resources, sarama.DescribeConfigsOptions{})
	if err != nil {
		return nil, mapError(err)
	}
	for _, res := range results {
		state, ok := states[res.Name]
		if !ok {
			continue
		}
		if res.ErrorCode != 0 {
			if sarama.KError(res.ErrorCode) == sarama.ErrUnknownTopicOrPartition {
				delete(states, res.Name) // deleted between the two requests
				continue
			}
			return nil, mapError(fmt.Errorf("%w: %s", sarama.KError(res.ErrorCode), res.ErrorMsg))
		}
		for _, e := range res.Configs {
			if e.Source == sarama.SourceTopic {
				state.Config[e.Name] = e.Value
			}
		}
	}
	return states, nil
}

func (a *saramaAdmin) CreateTopic(ctx context.Context, spec TopicSpec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries := make(map[string]*string, len(spec.Config))
	for k, v := range spec.Config {
		entries[k] = &v
	}
	countRequest("create_topics")
	err := a.admin.CreateTopic(spec.Name, &sarama.TopicDetail{
		NumPartitions:     spec.Partitions,
		ReplicationFactor: int16(spec.ReplicationFactor),
		ConfigEntries:     entries,
	}, false)
	if errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return nil
	}
	return mapError(err)
}

func (a *saramaAdmin) CreatePartitions(ctx context.Context, name string, total int32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	countRequest("create_partitions")
	return mapError(a.admin.CreatePartitions(name, total, nil, false))
}

func (a *saramaAdmin) AlterTopicConfig(ctx context.Context, name string, set map[string]string, remove []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(set) == 0 && len(remove) == 0 {
		return nil
	}
	entries := make(map[string]sarama.IncrementalAlterConfigsEntry, len(set)+len(remove))
	for k, v := range set {
		entries[k] = sarama.IncrementalAlterConfigsEntry{Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &v}
	}
	for _, k := range remove {
		entries[k] = sarama.IncrementalAlterConfigsEntry{Operation: sarama.IncrementalAlterConfigsOperationDelete}
	}
	countRequest("incremental_alter_configs")
	return mapError(a.admin.IncrementalAlterConfig(sarama.TopicResource, name, entries, false))
}

func (a *saramaAdmin) DeleteTopic(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	countRequest("delete_topics")
	err := a.admin.DeleteTopic(name)
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return nil
	}
	return mapError(err)
}

func (a *saramaAdmin) ReassignPartitions(ctx context.Context, name string, assignment [][]int32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	countRequest("alter_partition_reassignments")
	return mapError(a.admin.AlterPartitionReassignments(name, assignment))
}

func (a *saramaAdmin) ReassignmentsInProgress(ctx context.Context, name string, partitions int32) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	ids := make([]int32, partitions)
	for i := range ids {
		ids[i] = int32(i)
	}
	countRequest("list_partition_reassignments")
	status, err := a.admin.ListPartitionReassignments(name, ids)
	if err != nil {
		return 0, mapError(err)
	}
	return len(status[name]), nil
}

func (a *saramaAdmin) Close() error {
	return a.admin.Close()
}

// mapError turns sarama's errors into the package's sentinels, keeping the broker's message.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sarama.ErrSASLAuthenticationFailed) {
		return fmt.Errorf("%w: %v", ErrAuthenticationFailed, err)
	}
	if isTLSError(err) {
		return fmt.Errorf("%w: %v", ErrTLSHandshake, err)
	}
	var kerr sarama.KError
	if !errors.As(err, &kerr) {
		var netErr net.Error
		if errors.As(err, &netErr) || errors.Is(err, sarama.ErrOutOfBrokers) || errors.Is(err, sarama.ErrClosedClient) ||
			errors.Is(err, sarama.ErrNotConnected) || errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return err
	}
	var sentinel error
	switch kerr {
	case sarama.ErrNoError:
		return nil
	case sarama.ErrUnknownTopicOrPartition:
		sentinel = ErrTopicNotFound
	case sarama.ErrInvalidConfig, sarama.ErrPolicyViolation, sarama.ErrInvalidRequest:
		sentinel = ErrInvalidConfig
	case sarama.ErrInvalidPartitions:
		sentinel = ErrInvalidPartitions
	case sarama.ErrInvalidReplicationFactor, sarama.ErrInvalidReplicaAssignment:
		sentinel = ErrInvalidReplicationFactor
	case sarama.ErrMessageSizeTooLarge:
		sentinel = ErrMessageTooLarge
	case sarama.ErrNotController, sarama.ErrRequestTimedOut, sarama.ErrBrokerNotAvailable,
		sarama.ErrLeaderNotAvailable, sarama.ErrNotEnoughReplicas, sarama.ErrNetworkException:
		sentinel = ErrUnavailable
	default:
		return err
	}
	// err.Error() carries the broker's message where it sent one.
	return fmt.Errorf("%w: %s", sentinel, err.Error())
}
