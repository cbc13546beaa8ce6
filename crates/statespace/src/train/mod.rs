//! Training: configs, AdamW with SSM parameter groups, schedules,
//! reproducible data order, checkpoints, the objectives (classification,
//! forecasting, language modelling) and the training loop.

pub mod checkpoint;
pub mod classify;
pub mod collective;
pub mod config;
pub mod data;
pub mod data_parallel;
pub mod forecast;
pub mod lm;
pub mod loss_scale;
#[cfg(feature = "cuda")]
pub mod nccl_group;
pub mod objective;
pub mod optim;
pub mod ranks;
pub mod run;
pub mod schedule;
pub mod sequence_parallel;

pub use config::{ModelConfig, ScheduleConfig, TrainConfig};
pub use objective::Parallelism;
pub use run::{MetricRow, Observer, RunDir, Summary, train, train_parallel};
