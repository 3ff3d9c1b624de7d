//! Incidents through Systems Manager Incident Manager.

use crate::error::effect_error;
use aws_sdk_ssmincidents::types::{
    ItemIdentifier, ItemType, ItemValue, RelatedItem, TriggerDetails,
};
use keyguard_core::{EffectError, ErrorKind, Incident};

#[derive(Clone)]
pub struct Incidents {
    client: aws_sdk_ssmincidents::Client,
}

fn build_error(e: aws_smithy_types::error::operation::BuildError) -> EffectError {
    EffectError::new(ErrorKind::Other, None, e.to_string())
}

impl Incidents {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_ssmincidents::Client::new(config),
        }
    }

    /// Starts the incident; returns its record ARN.
    pub async fn start(&self, incident: &Incident) -> Result<String, EffectError> {
        let mut trigger = TriggerDetails::builder()
            .source(&incident.source)
            .timestamp(aws_smithy_types::DateTime::from_secs(
                incident.timestamp.timestamp(),
            ))
            .raw_data(&incident.raw_data);
        if let Some(arn) = &incident.trigger_arn {
            trigger = trigger.trigger_arn(arn);
        }
        let mut call = self
            .client
            .start_incident()
            .response_plan_arn(&incident.response_plan_arn)
            .title(&incident.title)
            .impact(i32::from(incident.impact))
            .client_token(&incident.client_token)
            .trigger_details(trigger.build().map_err(build_error)?);
        for link in &incident.related {
            let identifier = ItemIdentifier::builder()
                .r#type(ItemType::Other)
                .value(ItemValue::Url(link.url.clone()))
                .build()
                .map_err(build_error)?;
            call = call.related_items(
                RelatedItem::builder()
                    .title(&link.title)
                    .identifier(identifier)
                    .build(),
            );
        }
        let out = call.send().await.map_err(|e| effect_error(&e))?;
        Ok(out.incident_record_arn().to_owned())
    }

    /// A custom event on the incident's timeline; returns its event id.
    pub async fn add_to_timeline(
        &self,
        incident_arn: &str,
        at: keyguard_core::Timestamp,
        text: &str,
        client_token: &str,
    ) -> Result<String, EffectError> {
        let out = self
            .client
            .create_timeline_event()
            .incident_record_arn(incident_arn)
            .event_time(aws_smithy_types::DateTime::from_secs(at.timestamp()))
            .event_type("Custom Event")
            .event_data(text)
            .client_token(client_token)
            .send()
            .await
            .map_err(|e| effect_error(&e))?;
        Ok(out.event_id().to_owned())
    }
}
