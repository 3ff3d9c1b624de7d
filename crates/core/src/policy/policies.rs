//! Each function's decisions as one [`Policy`], the shape the pipeline runs: what the
//! event names, what there is to read, what to do with it, and what to do when it
//! cannot be read. The functions and `keyguard plan` run these same five.

use super::age::{self, AgeConfig, Person};
use super::containment::{self, ContainmentConfig};
use super::detector::{self, DetectorConfig};
use super::rotation::{self, RotatorConfig, SecretFacts};
use super::sweep::{self, ManagedSecret, UserFacts};
use super::translator::{self, TranslatorConfig};
use crate::effects::EffectError;
use crate::events::{RotationEvent, Trigger};
use crate::guard::HandoffCheck;
use crate::pipeline::{failed, Policy};
use crate::plan::{Decision, Plan, Step};
use crate::report::StepReport;
use crate::time::Timestamp;
use crate::unread::Unread;

/// The actions the function of this name can plan ([`Policy::ACTIONS`]); `None` for a
/// name that is not one of the five.
pub fn actions_of(function: &str) -> Option<&'static [&'static str]> {
    Some(match function {
        containment::FUNCTION => ContainmentConfig::ACTIONS,
        translator::FUNCTION => TranslatorConfig::ACTIONS,
        detector::FUNCTION => DetectorConfig::ACTIONS,
        rotation::FUNCTION => RotatorConfig::ACTIONS,
        age::FUNCTION => AgeConfig::ACTIONS,
        _ => return None,
    })
}

/// deactivate-key. The door is what checking a hand-off's MAC found (`None` for every
/// other event).
impl Policy for ContainmentConfig {
    const FUNCTION: &'static str = containment::FUNCTION;
    const ACTIONS: &'static [&'static str] = &[
        "deactivate_key",
        "revoke_sessions",
        "sweep_history",
        "notify",
    ];
    type Door = Option<HandoffCheck>;
    type Target = containment::Target;
    /// One per credential the target names, in its order.
    type Facts = Vec<containment::Facts>;

    fn target(
        &self,
        trigger: &Trigger,
        event_ref: &str,
        door: &Self::Door,
    ) -> Result<Self::Target, Box<Plan>> {
        containment::target(trigger, self, event_ref, door.as_ref())
    }

    fn decide(&self, target: &Self::Target, facts: &Self::Facts, now: Timestamp) -> Plan {
        containment::decide(target, self, facts, now)
    }

    fn unreadable(
        &self,
        target: &Self::Target,
        error: &EffectError,
        event_ref: &str,
        _now: Timestamp,
    ) -> Plan {
        let mut plan = failed::<Self>(format!("reading IAM: {error}"), event_ref);
        plan.classifier_source = target.classifier_source.clone();
        plan
    }
}

/// guardduty-translator: its facts are deactivate-key's, for the one credential.
impl Policy for TranslatorConfig {
    const FUNCTION: &'static str = translator::FUNCTION;
    const ACTIONS: &'static [&'static str] = &[
        "deactivate_key",
        "revoke_sessions",
        "sweep_history",
        "start_runbook",
        "open_incident",
        "add_to_incident",
        "notify",
    ];
    type Door = ();
    type Target = translator::Target;
    type Facts = containment::Facts;

    fn target(
        &self,
        trigger: &Trigger,
        event_ref: &str,
        _: &(),
    ) -> Result<Self::Target, Box<Plan>> {
        translator::target(trigger, self, event_ref)
    }

    fn decide(&self, target: &Self::Target, facts: &Self::Facts, now: Timestamp) -> Plan {
        translator::decide(target, self, facts, now)
    }

    /// IAM unreadable: the incident and notice still go out, the runbook does not.
    fn unreadable(
        &self,
        target: &Self::Target,
        error: &EffectError,
        _event_ref: &str,
        now: Timestamp,
    ) -> Plan {
        translator::decide_unreadable(target, self, &error.to_string(), now)
    }
}

/// What createkey-detector reads: for a CloudTrail record, what its memory holds of the
/// signing key, the user a key is made for and the key's launches (a record that asks
/// nothing is finished at [`Policy::target`]); for its hourly schedule, every canary key
/// and its last use.
#[derive(Debug, Clone)]
pub enum DetectorTarget {
    Canaries {
        event_ref: String,
    },
    Recall {
        trigger: Box<Trigger>,
        event_ref: String,
        ask: Box<detector::memory::Ask>,
    },
}

/// What createkey-detector read for its target.
#[derive(Debug, Clone)]
pub enum DetectorFacts {
    Canaries(detector::canary_check::CanaryFacts),
    Recall(Box<detector::memory::Recall>),
}

impl Policy for DetectorConfig {
    const FUNCTION: &'static str = detector::FUNCTION;
    const ACTIONS: &'static [&'static str] = &[
        "record_exemption",
        "remember",
        "hand_off",
        "alert",
        "notify",
    ];
    type Door = ();
    type Target = DetectorTarget;
    type Facts = DetectorFacts;

    fn target(
        &self,
        trigger: &Trigger,
        event_ref: &str,
        _: &(),
    ) -> Result<Self::Target, Box<Plan>> {
        // The trust check comes first, as for every event: a schedule anyone could send
        // must not make the detector read IAM.
        let trusted = self.guard.untrusted(trigger, None).is_none();
        let ask = match trigger {
            Trigger::CloudTrail { record, envelope } if trusted => {
                detector::memory::ask(record, envelope.as_ref())
            }
            _ => None,
        };
        match (trigger, ask) {
            (Trigger::Scheduled { .. }, _) if trusted => Ok(DetectorTarget::Canaries {
                event_ref: event_ref.to_owned(),
            }),
            (_, Some(ask)) => Ok(DetectorTarget::Recall {
                trigger: Box::new(trigger.clone()),
                event_ref: event_ref.to_owned(),
                ask: Box::new(ask),
            }),
            _ => Err(Box::new(detector::decide(trigger, self, event_ref))),
        }
    }

    fn decide(&self, target: &Self::Target, facts: &Self::Facts, now: Timestamp) -> Plan {
        match (target, facts) {
            (DetectorTarget::Canaries { event_ref }, DetectorFacts::Canaries(facts)) => {
                detector::canary_check::decide(facts, self, event_ref, now)
            }
            (
                DetectorTarget::Recall {
                    trigger, event_ref, ..
                },
                DetectorFacts::Recall(recall),
            ) => detector::decide_with(trigger, self, event_ref, recall),
            (
                DetectorTarget::Canaries { event_ref } | DetectorTarget::Recall { event_ref, .. },
                _,
            ) => failed::<Self>("the facts read are not the target's".into(), event_ref),
        }
    }

    /// The memory could not be read: every rule that needs none still alerts and hands
    /// off, and the run fails naming the read, so Lambda's retry recalls again (what
    /// went out is a duplicate then, and only the correlations are new).
    fn unreadable(
        &self,
        target: &Self::Target,
        error: &EffectError,
        event_ref: &str,
        _: Timestamp,
    ) -> Plan {
        match target {
            DetectorTarget::Canaries { .. } => {
                failed::<Self>(format!("reading facts: {error}"), event_ref)
            }
            DetectorTarget::Recall { trigger, .. } => {
                let mut plan = detector::decide(trigger, self, event_ref);
                plan.unread_also = Some(format!("reading the detector's memory: {error}"));
                plan
            }
        }
    }
}

/// What secrets-rotator is asked to do: one rotation step, or the sweep.
#[derive(Debug, Clone)]
pub enum RotatorTarget {
    Step {
        event: RotationEvent,
        event_ref: String,
    },
    Sweep {
        event_ref: String,
    },
}

/// What secrets-rotator read for it.
#[derive(Debug)]
pub enum RotatorFacts {
    /// `None`: there is no such secret.
    Step(Option<Box<SecretFacts>>),
    Sweep(SweepFacts),
}

/// What a sweep read: the users it can act on, those it could not read, the secrets.
#[derive(Debug, Default)]
pub struct SweepFacts {
    pub users: Vec<UserFacts>,
    pub unread: Vec<Unread>,
    pub secrets: Vec<ManagedSecret>,
}

impl Policy for RotatorConfig {
    const FUNCTION: &'static str = rotation::FUNCTION;
    const ACTIONS: &'static [&'static str] = &[
        "create_pending_key",
        "test_pending_key",
        "promote_pending",
        "deactivate_key",
        "delete_key",
        "notify",
    ];
    type Door = ();
    type Target = RotatorTarget;
    type Facts = RotatorFacts;

    fn target(
        &self,
        trigger: &Trigger,
        event_ref: &str,
        _: &(),
    ) -> Result<Self::Target, Box<Plan>> {
        let event_ref = event_ref.to_owned();
        if let Some(decision) = rotation::gate(trigger, self) {
            return Err(Box::new(Plan::for_event(
                Self::FUNCTION,
                decision,
                event_ref,
            )));
        }
        Ok(match trigger {
            Trigger::Rotation(event) => RotatorTarget::Step {
                event: event.clone(),
                event_ref,
            },
            _ => RotatorTarget::Sweep { event_ref },
        })
    }

    fn decide(&self, target: &Self::Target, facts: &Self::Facts, now: Timestamp) -> Plan {
        match (target, facts) {
            (RotatorTarget::Step { event, .. }, RotatorFacts::Step(Some(secret))) => {
                rotation::decide_step(event, self, secret, now)
            }
            (RotatorTarget::Step { event, event_ref }, RotatorFacts::Step(None)) => {
                let what = format!("no secret {}", event.secret_id);
                Plan::for_event(Self::FUNCTION, Decision::NotFound { what }, event_ref)
            }
            (RotatorTarget::Sweep { event_ref }, RotatorFacts::Sweep(read)) => {
                let mut plan =
                    sweep::decide_sweep(event_ref, self, &read.users, &read.secrets, now);
                plan.unread = read.unread.clone();
                plan
            }
            (RotatorTarget::Step { event_ref, .. } | RotatorTarget::Sweep { event_ref }, _) => {
                failed::<Self>("the facts read are not the target's".into(), event_ref)
            }
        }
    }

    fn unreadable(
        &self,
        target: &Self::Target,
        error: &EffectError,
        _: &str,
        _: Timestamp,
    ) -> Plan {
        match target {
            RotatorTarget::Step { event_ref, .. } => {
                failed::<Self>(format!("reading the secret: {error}"), event_ref)
            }
            RotatorTarget::Sweep { event_ref } => {
                failed::<Self>(format!("reading keys and secrets: {error}"), event_ref)
            }
        }
    }
}

/// age-rotation's scan of one account: the people to decide on, and those it could not
/// read.
#[derive(Debug, Default)]
pub struct Scan {
    pub people: Vec<Person>,
    pub unread: Vec<Unread>,
}

/// age-rotation's target: the scan this schedule event asks for.
#[derive(Debug, Clone)]
pub struct ScanTarget {
    pub event_ref: String,
}

impl Policy for AgeConfig {
    const FUNCTION: &'static str = age::FUNCTION;
    const ACTIONS: &'static [&'static str] =
        &["deactivate_key", "delete_key", "send_email", "notify"];
    type Door = ();
    type Target = ScanTarget;
    type Facts = Scan;

    fn target(
        &self,
        trigger: &Trigger,
        event_ref: &str,
        _: &(),
    ) -> Result<Self::Target, Box<Plan>> {
        let event_ref = event_ref.to_owned();
        match age::gate(trigger, self) {
            Some(decision) => Err(Box::new(Plan::for_event(
                Self::FUNCTION,
                decision,
                event_ref,
            ))),
            None => Ok(ScanTarget { event_ref }),
        }
    }

    fn decide(&self, target: &Self::Target, scan: &Scan, now: Timestamp) -> Plan {
        let mut plan = age::decide_scan(&target.event_ref, self, &scan.people, now);
        plan.unread = scan.unread.clone();
        plan
    }

    fn unreadable(
        &self,
        _: &Self::Target,
        error: &EffectError,
        event_ref: &str,
        _: Timestamp,
    ) -> Plan {
        failed::<Self>(format!("reading keys: {error}"), event_ref)
    }

    /// The summary tells what happened, so it is written after the rest.
    fn held_back(&self, plan: &mut Plan) -> Option<Step> {
        age::take_summary(plan)
    }

    fn rewrite(&self, held: Step, done: &[StepReport]) -> Step {
        age::summary_after(held, done)
    }
}
