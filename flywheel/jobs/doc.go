// Package jobs runs a node's fine-tuning jobs: the files a tenant uploads
// to train on, the jobs that train a LoRA adapter from them (or from a
// dataset version), and their events and checkpoints, in the node's
// database, in the shapes of OpenAI's /v1/files and /v1/fine_tuning/jobs
// (Hook serves them to package api).
//
// A file is the tenant's data: it is checked when it is uploaded (OpenAI's
// chat fine-tuning JSONL, flywheel/dataset's parser; the first bad line
// is named), sealed under the tenant's capture key (a shred leaves it
// unreadable) and stored only on a node of the tenant's home
// jurisdiction. A job's training_file is a file id ("file-...") or a
// dataset version, spelt "dataset:NAME@VERSION" ("dataset:NAME" is the
// latest version, fixed when the job is created); a dataset's eval split
// is the job's validation data unless validation_file names other data.
//
// One job trains at a time on a node; the others wait in the queue, in
// the order they were created. A job trains in the background on a thread
// budget of its own (Config.Threads, by default half the machine's cores,
// at least one), so serving keeps the rest. Cancel stops a job at the
// trainer's next step boundary. Shutdown stops the running job the same
// way but leaves it "running" in the database: the next Start queues it
// first, and the trainer resumes it from the newest checkpoint in its
// directory (Config.Dir/JOB-ID), so a restart loses at most the steps
// since that checkpoint.
//
// Every upload, deletion, creation, cancellation and end of a job is
// recorded in the audit log (kind KindFineTuning); a change is committed
// only once its record is durable.
package jobs
